"""``raynas bench --objectives``: multi-objective strategies on the tabular NAS-Bench-201.

Protocol ("Two objectives" of ``../shared/benchmarks/README.md``, generalised): a query tells a
strategy ``{"accuracy": cifar10valid_valid_12ep, "params": params_cifar10}`` (``flops`` too when
asked for). For the score every objective is normalised to be minimised in [0, 1]:
``1 - accuracy / 100``, ``params / max(params)``, ``flops / max(flops)``; reference point all
ones. A run's answer is the non-dominated set of every architecture it evaluated (repeats
included); its score is **HV regret** = hypervolume of the whole table's Pareto front (0.7946 for
accuracy against params) minus the run's hypervolume. 100 seeds by default; mean ± std.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from raynas.bench.nb201 import find_row
from raynas.bench.table import NB201Table, load_table, nasbench201_space
from raynas.strategies.pareto import hypervolume, non_dominated

#: metrics the table can answer, with the direction the protocol gives them
MO_METRICS = {"accuracy": "max", "params": "min", "flops": "min"}
DEFAULT_MO_REPEATS = 100
#: the peers' HV regret on the two-objective protocol (shared benchmarks README), per budget
PEERS_ACCURACY_PARAMS: dict[str, dict[int, float]] = {
    "Optuna MO-TPE (best peer)": {25: 0.0318, 50: 0.0200, 100: 0.0111, 200: 0.0077},
    "Optuna NSGA-II": {25: 0.0344, 50: 0.0206, 100: 0.0140, 200: 0.0080},
    "Syne Tune MO-REA": {25: 0.0359, 50: 0.0220, 100: 0.0142, 200: 0.0099},
    "random (peer)": {25: 0.0375, 50: 0.0221, 100: 0.0135, 200: 0.0093},
    "textbook MO evolution": {25: 0.0396, 50: 0.0210, 100: 0.0113, 200: 0.0066},
}


@dataclass(frozen=True)
class ObjectiveTable:
    """The table's values for each objective (raw, told to strategies) and normalised
    (minimised, in [0, 1], for the hypervolume)."""

    objectives: dict[str, str]
    raw: np.ndarray         # (15625, m) in objectives order
    normalised: np.ndarray  # (15625, m), minimised
    best_hv: float          # HV of the table's Pareto front, reference all ones

    @classmethod
    def build(cls, table: NB201Table, objectives: Mapping[str, str]) -> "ObjectiveTable":
        raw, norm = [], []
        for metric, direction in objectives.items():
            if metric not in MO_METRICS:
                raise ValueError(f"objective {metric!r}: the NAS-Bench-201 table answers only "
                                 f"{', '.join(MO_METRICS)}")
            if direction != MO_METRICS[metric]:
                raise ValueError(f"objective {metric}:{direction}: the benchmark "
                                 f"{'maximises' if MO_METRICS[metric] == 'max' else 'minimises'} "
                                 f"{metric}; use {metric}:{MO_METRICS[metric]}")
            if metric == "accuracy":
                values = table.fitness
                norm.append(1.0 - values / 100.0)
            else:
                values = getattr(table, metric)
                if values is None:
                    raise ValueError(f"the table {table.source} has no {metric} column; "
                                     f"use the shipped table or add params_cifar10/flops_cifar10")
                norm.append(values / values.max())
            raw.append(values)
        normalised = np.column_stack(norm)
        front = normalised[non_dominated(normalised)]
        ones = np.ones(len(objectives))
        return cls(dict(objectives), np.column_stack(raw), normalised,
                   hypervolume(front, ones))


@dataclass(frozen=True)
class MORow:
    """One (strategy, budget) cell: HV regret statistics over the repeats."""

    strategy: str
    budget: int
    repeats: int
    mean: float
    std: float
    us_per_call: float


@dataclass
class MOResult:
    """What :func:`run_mo_bench` measured (``to_dict`` is JSON-able)."""

    objectives: dict[str, str]
    rows: list[MORow]
    best_hv: float
    seconds: float
    table: str
    values: dict[str, dict[int, list[float]]] = field(repr=False, default_factory=dict)

    def row(self, strategy: str, budget: int) -> MORow:
        return find_row(self.rows, strategy, budget)

    def to_dict(self) -> dict[str, Any]:
        return {"objectives": self.objectives, "rows": [asdict(r) for r in self.rows],
                "best_hv": self.best_hv, "seconds": self.seconds, "table": self.table}


def run_mo_once(make: Callable[..., Any], table: ObjectiveTable, nb201: NB201Table, budget: int,
                seed: int, space: Any = None) -> tuple[float, float, int]:
    """One run: ``(HV regret, seconds in ask and tell, ask+tell pairs)``. ``make(space, seed=,
    budget=, objectives=)`` builds the strategy."""
    from raynas.strategies import SpaceExhausted

    space = nasbench201_space() if space is None else space
    strategy = make(space, seed=seed, budget=budget, objectives=table.objectives)
    metrics = list(table.objectives)
    rows: list[int] = []
    spent, calls = 0.0, 0
    clock = time.process_time  # CPU time: other work on a shared machine does not count
    for _ in range(budget):
        start = clock()
        try:
            genome = strategy.ask()
        except SpaceExhausted:
            break
        asked = clock()
        if genome is None:
            break
        row = nb201.index(genome)
        result = dict(zip(metrics, table.raw[row].tolist()))
        told = clock()
        strategy.tell(genome, result)
        spent += (asked - start) + (clock() - told)
        calls += 1
        rows.append(row)
    points = table.normalised[np.unique(rows)] if rows else np.zeros((0, len(metrics)))
    hv = hypervolume(points, np.ones(len(metrics))) if len(points) else 0.0
    return table.best_hv - hv, spent, calls


def run_mo_bench(objectives: Mapping[str, str], strategies: Sequence[str] | None = None,
                 budgets: Sequence[int] = (25, 50, 100, 200), repeats: int = DEFAULT_MO_REPEATS,
                 table: NB201Table | str | None = None, seed: int = 0,
                 progress: Callable[[int], None] | None = None,
                 factories: Mapping[str, Callable[..., Any]] | None = None) -> MOResult:
    """Run registered strategies (default: all; or ``factories``, label -> constructor) on the
    multi-objective protocol; ``progress(1)`` after every run."""
    import raynas.strategies

    if factories is None:
        names = list(raynas.strategies.names() if strategies is None else strategies)
        factories = {name: raynas.strategies.get(name) for name in names}
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if not isinstance(table, NB201Table):
        table = load_table(table)
    objective_table = ObjectiveTable.build(table, objectives)
    space = nasbench201_space()
    started = time.perf_counter()
    rows, values = [], {}
    for name, make in factories.items():
        values[name] = {}
        for budget in budgets:
            regrets, spent, calls = [], 0.0, 0
            for r in range(repeats):
                regret, s, c = run_mo_once(make, objective_table, table, budget, seed + r, space)
                regrets.append(regret)
                spent += s
                calls += c
                if progress is not None:
                    progress(1)
            arr = np.asarray(regrets)
            rows.append(MORow(name, budget, repeats, float(arr.mean()), float(arr.std()),
                              1e6 * spent / max(calls, 1)))
            values[name][budget] = regrets
    return MOResult(objective_table.objectives, rows, objective_table.best_hv,
                    time.perf_counter() - started, table.source, values)


def format_mo_table(result: MOResult) -> Any:
    """A ``rich`` table: HV regret per budget for each strategy, beside the peers' figures
    when the objectives are the shared protocol's (accuracy:max, params:min)."""
    from rich.table import Table

    budgets = sorted({row.budget for row in result.rows})
    names = ", ".join(f"{k}:{d}" for k, d in result.objectives.items())
    out = Table(title=f"NAS-Bench-201 CIFAR-10, objectives {names}: HV regret (lower is "
                      f"better; table front HV {result.best_hv:.4f})")
    out.add_column("strategy")
    for budget in budgets:
        out.add_column(f"{budget} queries", justify="right")
    out.add_column("µs / ask+tell", justify="right")
    for strategy in dict.fromkeys(row.strategy for row in result.rows):
        cells = [result.row(strategy, b) for b in budgets]
        us = sum(c.us_per_call for c in cells) / len(cells)
        out.add_row(f"raynas {strategy}", *[f"{c.mean:.4f} ± {c.std:.4f}" for c in cells],
                    f"{us:.0f}")
    if result.objectives == {"accuracy": "max", "params": "min"}:
        for peer, figures in PEERS_ACCURACY_PARAMS.items():
            out.add_row(f"[dim]{peer}[/dim]",
                        *[f"[dim]{figures[b]:.4f}[/dim]" if b in figures else "" for b in budgets],
                        "")
    return out
