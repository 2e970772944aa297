"""``raynas bench``: search strategies on the tabular NAS-Bench-201, in-process (no Ray, no torch).

Protocol (``raynas/bench/data/README.md``): a run spends ``budget`` queries; each query's fitness is
``cifar10valid_valid_12ep``; the run's answer is the architecture with the best fitness seen,
reported by its ``cifar10_test_200ep``. Each (strategy, budget) is repeated over seeds
``seed .. seed + repeats - 1``; each strategy gets ``budget=`` (the run's number of trials).
Time per ask+tell counts the strategy's own calls only, not the table look-up.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from raynas.bench.table import NB201Table, load_table, nasbench201_space

DEFAULT_BUDGETS = (25, 50, 100, 200)
DEFAULT_REPEATS = 500


@dataclass(frozen=True)
class BenchRow:
    """One (strategy, budget) cell: statistics of the reported accuracy over the repeats."""

    strategy: str
    budget: int
    repeats: int
    mean: float
    std: float
    regret: float  # table optimum - mean
    us_per_call: float  # mean seconds per ask+tell, in microseconds


def find_row(rows: Sequence[Any], strategy: str, budget: int) -> Any:
    """The row of ``strategy`` at ``budget`` among a bench's rows; ``KeyError`` if none."""
    for row in rows:
        if row.strategy == strategy and row.budget == budget:
            return row
    raise KeyError(f"no result for strategy {strategy!r} at budget {budget}")


@dataclass
class BenchResult:
    """What :func:`run_bench` measured (``to_dict`` is JSON-able)."""

    rows: list[BenchRow]
    us_per_call: dict[str, float]  # per strategy, over all its budgets
    best_reported: float
    seconds: float
    table: str
    values: dict[str, dict[int, list[float]]] = field(repr=False, default_factory=dict)

    def row(self, strategy: str, budget: int) -> BenchRow:
        return find_row(self.rows, strategy, budget)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "us_per_call": self.us_per_call,
                "best_reported": self.best_reported, "seconds": self.seconds, "table": self.table}


def run_once(strategy_class: type, table: NB201Table, budget: int, seed: int,
             space: Any = None) -> tuple[float, float, int]:
    """One run: ``(reported accuracy of the best-fitness architecture, seconds spent in ask and
    tell, number of ask+tell pairs)``. Stops early if the strategy exhausts the space."""
    from raynas.strategies import SpaceExhausted

    space = nasbench201_space() if space is None else space
    strategy = strategy_class(space, seed=seed, budget=budget)
    fitness, reported = table.fitness, table.reported
    best_fitness, best_reported = -math.inf, math.nan
    spent, calls = 0.0, 0
    clock = time.process_time  # CPU time: other work on a shared machine does not count
    for _ in range(budget):
        start = clock()
        try:
            genome = strategy.ask()
        except SpaceExhausted:
            break
        asked = clock()
        if genome is None:  # nothing pending in a sequential run, so this cannot wait
            break
        row = table.index(genome)
        value = float(fitness[row])
        told = clock()
        strategy.tell(genome, value)
        spent += (asked - start) + (clock() - told)
        calls += 1
        if value > best_fitness:
            best_fitness, best_reported = value, float(reported[row])
    return best_reported, spent, calls


def run_bench(strategies: Sequence[str] | None = None,
              budgets: Sequence[int] = DEFAULT_BUDGETS, repeats: int = DEFAULT_REPEATS,
              table: NB201Table | str | Path | None = None, seed: int = 0,
              progress: Callable[[int], None] | None = None) -> BenchResult:
    """Run registered strategies (default: all) per the protocol; ``progress(n)`` is called
    after every ``n`` finished runs."""
    import numpy as np

    import raynas.strategies

    names = list(raynas.strategies.names() if strategies is None else strategies)
    classes = {name: raynas.strategies.get(name) for name in names}
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    bad = [b for b in budgets if not isinstance(b, int) or b < 1]
    if bad or not budgets:
        raise ValueError(f"budgets must be ints >= 1, got {list(budgets)!r}; e.g. 25,50,100,200")
    if not isinstance(table, NB201Table):
        table = load_table(table)
    space = nasbench201_space()
    best = table.best_reported
    started = time.perf_counter()
    rows, values, totals = [], {}, {}
    for name, cls in classes.items():
        values[name] = {}
        spent_all, calls_all = 0.0, 0
        for budget in budgets:
            found, spent, calls = [], 0.0, 0
            for r in range(repeats):
                value, s, c = run_once(cls, table, budget, seed + r, space)
                found.append(value)
                spent += s
                calls += c
                if progress is not None:
                    progress(1)
            arr = np.asarray(found)
            rows.append(BenchRow(strategy=name, budget=budget, repeats=repeats,
                                 mean=float(arr.mean()), std=float(arr.std()),
                                 regret=float(best - arr.mean()),
                                 us_per_call=1e6 * spent / max(calls, 1)))
            values[name][budget] = found
            spent_all += spent
            calls_all += calls
        totals[name] = 1e6 * spent_all / max(calls_all, 1)
    return BenchResult(rows=rows, us_per_call=totals, best_reported=best,
                       seconds=time.perf_counter() - started, table=table.source, values=values)


def format_table(result: BenchResult) -> Any:
    """A ``rich`` table of a :class:`BenchResult`."""
    from rich.table import Table

    out = Table(title=f"NAS-Bench-201 CIFAR-10: {REPORTED_LABEL} of the best-fitness "
                      f"architecture (optimum {result.best_reported:.2f})")
    for column, justify in [("strategy", "left"), ("queries", "right"),
                            ("test acc. mean ± std", "right"), ("regret", "right"),
                            ("µs / ask+tell", "right")]:
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    previous = None
    for row in result.rows:
        out.add_row(row.strategy if row.strategy != previous else "", str(row.budget),
                    f"{row.mean:.2f} ± {row.std:.2f}", f"{row.regret:.2f}",
                    f"{row.us_per_call:.0f}")
        previous = row.strategy
    return out


REPORTED_LABEL = "200-epoch test accuracy (%)"
