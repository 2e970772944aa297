"""One-shot search (Single Path One-Shot, Guo et al. 2019): a weight-sharing supernet trained
once on Ray Train (:mod:`.train_supernet`), then evolution over inherited weights in a pool of
Ray actors (:mod:`.evaluate`, :mod:`.search`).

Layer: above ``raynas.results`` (it writes rows) and ``raynas.train``; below ``raynas.analysis``.
"""

from raynas.oneshot.evaluate import (EvalData, EvaluatorPool, SupernetEvaluator, evaluate_path,
                                     make_eval_data, recalibrate_batchnorm)
from raynas.oneshot.search import SearchResult, search_inherited
from raynas.oneshot.supernet import (PathSetter, check_weight_sharing, latest_checkpoint,
                                     load_state, sample_path)
from raynas.oneshot.train_supernet import SupernetDiverged, SupernetResult, train_supernet

__all__ = ["EvalData", "EvaluatorPool", "PathSetter", "SearchResult", "SupernetDiverged",
           "SupernetEvaluator", "SupernetResult", "check_weight_sharing", "evaluate_path",
           "latest_checkpoint", "load_state", "make_eval_data", "recalibrate_batchnorm",
           "sample_path", "search_inherited", "train_supernet"]
