"""Stage 3 of a one-shot run: the best inherited-weight candidates trained from scratch as
ordinary raynas trials (``evolve``'s trainable on Ray Tune), rows with ``stage="retrain"``.

:func:`retrain_choices` picks the top distinct genomes of the ``oneshot`` rows
(:func:`inherited_ranking`, by the run's objectives) that have no
``retrain`` row yet; :class:`FixedSearcher` hands Tune that fixed list of trial configs;
:class:`RetrainRecorder` is ``evolve``'s recorder with the ``stage`` set.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Mapping, Sequence

import pandas as pd
from ray.tune.search import Searcher

from raynas.results.objectives import DEFAULT_OBJECTIVES, best_by_objectives, objective_front
from raynas.results.store import Status, make_row, ranked
from raynas.run.recorder import RunRecorder
from raynas.run.settings import trial_seed

__all__ = ["FixedSearcher", "RetrainRecorder", "inherited_ranking", "retrain_choices"]


def inherited_ranking(inherited: Any, objectives: Mapping[str, str] | None = None) -> Any:
    """The completed ``oneshot`` rows, each genome once, best first for ``objectives``: by
    :func:`~raynas.results.store.ranked` (accuracy, then inherited loss) for the default
    objective; for another single objective, by it (then inherited loss); with several, the
    Pareto front of the rows first, then the rest, each by the first objective."""
    objectives = dict(objectives or DEFAULT_OBJECTIVES)
    if objectives == DEFAULT_OBJECTIVES:
        best = ranked(inherited)
    else:
        best = best_by_objectives(inherited, objectives, then=("loss",))
        if len(objectives) > 1:
            front = objective_front(inherited, objectives, then=("loss",))
            best = pd.concat([front, best[~best["genome"].isin(front["genome"])]])
    return best.drop_duplicates("genome").reset_index(drop=True)


def retrain_choices(rows: Any, top_k: int, run_seed: int,
                    objectives: Mapping[str, str] | None = None
                    ) -> tuple[list[dict[str, Any]], int]:
    """``(configs, already)``: Tune configs (genome, order, trial seed, parent = the oneshot
    trial) for the best ``top_k`` distinct genomes of the completed ``oneshot`` rows
    (:func:`inherited_ranking`) that were not retrained yet, and how many of the top
    ``top_k`` already have a ``retrain`` row."""
    stage = rows["stage"] if "stage" in rows else None
    if stage is None or not len(rows):
        return [], 0
    top = inherited_ranking(rows[stage == "oneshot"], objectives).head(top_k)
    done = set(rows.loc[stage == "retrain", "genome"])
    order = int(rows["order"].max()) + 1
    configs = []
    for genome, parent in zip(top["genome"], top["trial_id"]):
        if genome in done:
            continue
        configs.append({"genome": json.loads(genome), "order": order,
                        "trial_seed": trial_seed(run_seed, order), "parent_trial_id": parent})
        order += 1
    return configs, len(top) - len(configs)


class FixedSearcher(Searcher):
    """A Tune search algorithm over a fixed list of trial configs, in order, then FINISHED."""

    def __init__(self, configs: Sequence[dict[str, Any]]):
        super().__init__(metric="accuracy", mode="max")
        self.configs = list(configs)
        self.given = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.given >= len(self.configs):
            return Searcher.FINISHED
        config = dict(self.configs[self.given])
        self.given += 1
        return config

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        """Nothing to learn: the list is fixed."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


class RetrainRecorder(RunRecorder):
    """``evolve``'s recorder; its rows carry ``stage="retrain"``."""

    def row(self, trial_id: str, genome: dict[str, Any], **values: Any) -> dict[str, Any]:
        return make_row(self.space.keys, genome, trial_id=trial_id, strategy=self.settings.strategy,
                        seed=self.settings.seed, stage="retrain", **values)


def retrained(rows: Any) -> Any:
    """The completed ``retrain`` rows."""
    if "stage" not in rows:
        return rows.iloc[0:0]
    return rows[(rows["stage"] == "retrain") & (rows["status"] == Status.COMPLETED)]
