"""The run folder's results: the row schema, the journal and Parquet writer, the readers
and the rankings (:mod:`.store`). ``read_trials(OUT)`` is the public reader."""

from raynas.results.store import (ResultsError, completed, counts, pareto_front, ranked,
                                  read_run_info, read_trials)

__all__ = ["ResultsError", "completed", "counts", "pareto_front", "ranked", "read_run_info",
           "read_trials"]
