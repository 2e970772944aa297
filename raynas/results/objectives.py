"""A run's objectives over its rows: the metric values a strategy is told, the
non-dominated rows, and the normalised hypervolume over trials.

The objectives are a mapping of metric (a result column of :data:`OBJECTIVE_METRICS`) to
``"max"`` or ``"min"``, in priority order; a run records them in ``run.json`` (a run of
an older raynas, without them, has the default ``{"accuracy": "max"}``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from raynas.results.store import Status, completed

#: Result columns a run may optimise.
OBJECTIVE_METRICS: tuple[str, ...] = ("accuracy", "loss", "params", "flops", "latency_ms",
                                      "latency_batch_ms")
DEFAULT_OBJECTIVES: dict[str, str] = {"accuracy": "max"}


def parse_objective_list(items: Iterable[str] | str | Mapping[str, str] | None) -> dict[str, str]:
    """``["accuracy:max", "latency_ms:min"]`` (or ``"a:max,b:min"``, or a mapping) as the
    objectives mapping; ``None``: the default. ``ValueError`` names an unknown metric, a
    direction other than max/min, or a metric given twice."""
    from raynas.strategies import parse_objectives

    if items is None:
        return dict(DEFAULT_OBJECTIVES)
    if isinstance(items, Mapping):
        items = [f"{k}:{v}" for k, v in items.items()]
    elif not isinstance(items, str):
        items = [part for item in items for part in str(item).split(",") if part.strip()]
    return parse_objectives(items, known=list(OBJECTIVE_METRICS))


def objectives_text(objectives: Mapping[str, str]) -> list[str]:
    """The mapping as ``["metric:direction", ...]`` (what settings and ``run.json`` keep)."""
    return [f"{k}:{v}" for k, v in objectives.items()]


def run_objectives(info: Any) -> dict[str, str]:
    """The objectives a run recorded (``RunInfo`` or its dict); the default when none."""
    data = info.model_dump() if hasattr(info, "model_dump") else dict(info or {})
    recorded = data.get("objectives") or (data.get("settings") or {}).get("objective")
    try:
        return parse_objective_list(recorded)
    except ValueError:
        return dict(DEFAULT_OBJECTIVES)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def objective_value(values: Mapping[str, Any], objectives: Mapping[str, str]) -> Any:
    """What a strategy with ``objectives`` is told for a completed trial's ``values`` (a row
    or a final report): the one metric's float, or a mapping of every metric; ``None`` when
    a metric is missing or not finite (the trial counts as failed for the strategy)."""
    result = {metric: _finite(values.get(metric)) for metric in objectives}
    if any(v is None for v in result.values()):
        return None
    return next(iter(result.values())) if len(result) == 1 else result


def history(frame: Any, objectives: Mapping[str, str] | None = None
            ) -> Iterable[tuple[dict[str, Any], Any, int | None]]:
    """``(genome, told value or None, fidelity)`` triples in proposal order, for a strategy's
    replay: completed and stopped rows tell their objectives' value (a float, or a mapping
    for several objectives) at the epochs they trained (the fidelity); failed and rejected
    rows tell ``None``."""
    objectives = objectives or DEFAULT_OBJECTIVES
    told = frame["status"].isin([Status.COMPLETED.value, Status.STOPPED.value]).to_numpy().copy()
    scores = {metric: _finite_column(frame, metric) for metric in objectives}
    for metric in scores.values():
        told &= ~np.isnan(metric)  # a missing or non-finite metric: told None
    epochs = _finite_column(frame, "epochs")
    single = len(objectives) == 1
    for i, text in enumerate(frame["genome"]):
        if not told[i]:
            yield json.loads(text), None, None
            continue
        value = next(iter(scores.values()))[i].item() if single else \
            {metric: column[i].item() for metric, column in scores.items()}
        yield json.loads(text), value, None if np.isnan(epochs[i]) else int(epochs[i])


def _finite_column(frame: Any, name: str) -> np.ndarray:
    """A column as floats, NaN where it is missing, not a number or not finite (all NaN when
    the frame has no such column)."""
    import pandas as pd

    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _scored(frame: Any, objectives: Mapping[str, str]) -> Any:
    """Completed rows with a finite value for every objective."""
    import pandas as pd

    done = completed(frame)
    for metric in objectives:
        if metric not in done.columns:
            return done.iloc[0:0]
        done = done.assign(**{metric: pd.to_numeric(done[metric], errors="coerce")})
        done = done[np.isfinite(done[metric].astype(float))]
    return done


def minimised(frame: Any, objectives: Mapping[str, str]) -> np.ndarray:
    """The rows' objective values as an ``(n, m)`` array, every objective to minimise."""
    signs = np.array([-1.0 if d == "max" else 1.0 for d in objectives.values()])
    return frame[list(objectives)].to_numpy(dtype=float) * signs


def once_per_genome(rows: Any) -> Any:
    """``rows`` (in their order) keeping each genome's first row only."""
    return rows.drop_duplicates("genome", keep="first").reset_index(drop=True)


def objective_front(frame: Any, objectives: Mapping[str, str],
                    then: Sequence[str] = ()) -> Any:
    """The completed rows no other completed row dominates on ``objectives``, best first by
    the first objective (ties: the next objectives, the ascending columns ``then``, proposal
    order), each genome once: a genome trained again with new seeds appears by its first
    such row."""
    from raynas.strategies.pareto import non_dominated

    done = sort_by_objectives(_scored(frame, objectives), objectives, then)
    if not len(done):
        return done
    return once_per_genome(done[non_dominated(minimised(done, objectives))])


def sort_by_objectives(frame: Any, objectives: Mapping[str, str],
                       then: Sequence[str] = ()) -> Any:
    """Rows best first by the first objective, then the next ones, then the columns ``then``
    (ascending), then proposal order."""
    keys = [*objectives, *(c for c in then if c not in objectives), "order"]
    ascending = [d == "min" for d in objectives.values()] + [True] * (len(keys) - len(objectives))
    return frame.sort_values(keys, ascending=ascending, kind="stable").reset_index(drop=True)


def best_by_objectives(frame: Any, objectives: Mapping[str, str],
                       then: Sequence[str] = ()) -> Any:
    """Completed rows with every objective scored, best first by the first objective (ties
    as :func:`sort_by_objectives` breaks them), each genome once (by its best row)."""
    return once_per_genome(sort_by_objectives(_scored(frame, objectives), objectives, then))


def hypervolume_curve(frame: Any, objectives: Mapping[str, str]) -> Any:
    """The normalised hypervolume of the completed trials after each trial, in proposal order.

    Each objective is scaled to [0, 1] over the run's completed trials (0 the best value
    seen, 1 the worst), the reference point is 1.1 in every objective, and the volume is
    divided by the reference box's (1.0: one trial best in every objective); returns a
    DataFrame with ``order`` and ``hypervolume`` (one row per row of ``frame``: a failed or
    rejected trial repeats the last value).
    """
    import pandas as pd

    rows = frame.sort_values("order", kind="stable").reset_index(drop=True)
    done = _scored(rows, objectives)
    values = minimised(done, objectives) if len(done) else np.zeros((0, len(objectives)))
    low = values.min(axis=0) if len(values) else 0.0
    span = np.where(values.max(axis=0) - low > 0, values.max(axis=0) - low, 1.0) \
        if len(values) else 1.0
    scaled = (values - low) / span
    reference = np.full(len(objectives), 1.1)
    box = float(np.prod(reference))
    position = {index: i for i, index in enumerate(done.index)}
    curve = _running_hypervolume([position.get(index) for index in rows.index], scaled,
                                 reference) / box
    return pd.DataFrame({"order": rows["order"].to_numpy(), "hypervolume": curve})


def _running_hypervolume(points: list[int | None], scaled: np.ndarray,
                         reference: np.ndarray) -> np.ndarray:
    """The hypervolume after each step of ``points`` (a row of ``scaled``, or ``None`` for a
    step that adds none). Only a point no earlier point weakly dominates changes the volume,
    so it is computed again only then, over the running non-dominated set."""
    from raynas.strategies.pareto import hypervolume

    front = np.zeros((0, reference.shape[0]))
    volume = 0.0
    out = np.zeros(len(points))
    for step, point in enumerate(points):
        if point is not None:
            new = scaled[point]
            if not (front <= new).all(axis=1).any():
                front = np.vstack([front[~(new <= front).all(axis=1)], new])
                volume = hypervolume(front, reference)
        out[step] = volume
    return out


def front_lines(front: Any, objectives: Mapping[str, str], limit: int = 8) -> list[str]:
    """A few terminal lines: the front's rows with their objective values."""
    lines = []
    for _, row in front.head(limit).iterrows():
        figures = ", ".join(f"{m} {format_metric(m, row[m])}" for m in objectives)
        lines.append(f"  {row['trial_id']}: {figures}  {row['genome']}")
    if len(front) > limit:
        lines.append(f"  ... and {len(front) - limit} more")
    return lines


def format_metric(metric: str, value: Any) -> str:
    """A metric's value as the report and summaries print it."""
    number = _finite(value)
    if number is None:
        return "-"
    if metric in ("params", "flops"):
        return f"{int(number):,}"
    if metric.startswith("latency"):
        return f"{number:.3f} ms"
    return f"{number:.4f}"


def describe(objectives: Mapping[str, str], sep: str = ", ") -> str:
    """``accuracy (max), latency_ms (min)``."""
    return sep.join(f"{k} ({v})" for k, v in objectives.items())


__all__: Sequence[str] = ["OBJECTIVE_METRICS", "DEFAULT_OBJECTIVES", "best_by_objectives",
                          "describe", "front_lines", "history", "hypervolume_curve",
                          "objective_front", "objective_value", "objectives_text",
                          "once_per_genome", "parse_objective_list", "run_objectives",
                          "sort_by_objectives"]
