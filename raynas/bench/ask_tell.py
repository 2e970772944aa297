"""``python -m raynas.bench.ask_tell``: a strategy's own cost per ask+tell as its history grows.

For each number of objectives (accuracy; accuracy and params; accuracy, params and flops) the
strategy is first told ``told`` results (by ``replay``, as ``--resume`` does), then timed over
``pairs`` ask+tell pairs; the results are synthetic and deterministic (an additive function of
the genome's decisions plus noise), so only the strategy's time is measured, with BLAS on one
thread as in the driver. The default space is MobileNetV2's (about a million genomes, so that
10,000 results leave most of it unseen); on the 256-genome ``tiny``-like space every ask after
the first 256 is a re-evaluation, the other regime of a long run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, Sequence

import numpy as np

from raynas.core.space import SearchSpace
from raynas.run.threads import single_thread_blas

OBJECTIVE_SETS: dict[int, dict[str, str]] = {
    1: {"accuracy": "max"},
    2: {"accuracy": "max", "params": "min"},
    3: {"accuracy": "max", "params": "min", "flops": "min"},
}


def synthetic_result(space: SearchSpace, objectives: dict[str, str],
                     seed: int = 0) -> Callable[[dict[str, Any]], Any]:
    """A deterministic result function: each metric is a random additive score of the
    genome's decisions (a value per key and choice) plus a small hash-based noise."""
    rng = np.random.default_rng(seed)
    tables = {metric: {} for metric in objectives}

    def value(metric: str, genome: dict[str, Any]) -> float:
        table = tables[metric]
        total = 0.0
        for key in space.keys:
            cell = (key, repr(genome.get(key)))
            if cell not in table:
                table[cell] = float(rng.random())
            total += table[cell]
        noise = (hash((metric, SearchSpace.genome_id(genome))) % 1000) / 1e4
        return total + noise

    def result(genome: dict[str, Any]) -> Any:
        if len(objectives) == 1:
            return value("accuracy", genome)
        return {metric: value(metric, genome) for metric in objectives}

    return result


def history_of(space: SearchSpace, result: Callable[[dict[str, Any]], Any], told: int,
               seed: int = 0) -> list[tuple[dict[str, Any], Any]]:
    """``told`` random genomes of ``space`` with their results (repeats allowed)."""
    rng = np.random.default_rng(seed + 1)
    genomes = [space.sample(rng) for _ in range(told)]
    return [(genome, result(genome)) for genome in genomes]


def time_pairs(strategy: Any, result: Callable[[dict[str, Any]], Any], pairs: int) -> list[float]:
    """CPU seconds of this process in each of ``pairs`` sequential ask+tell pairs (the result
    look-up excluded; CPU time, so that other work on a shared machine does not count);
    re-evaluations once the space is used up, as the driver does."""
    from raynas.strategies import SpaceExhausted

    clock = time.process_time
    times = []
    exhausted = False
    for _ in range(pairs):
        start = clock()
        genome = None
        if not exhausted:
            try:
                genome = strategy.ask()
            except SpaceExhausted:
                exhausted = True  # from now on, as the driver: re-evaluations only
        if genome is None:
            genome = strategy.reevaluate()
        asked = clock()
        value = result(genome)
        told = clock()
        strategy.tell(genome, value)
        times.append((asked - start) + (clock() - told))
    return times


def measure(space: SearchSpace, strategy_name: str, n_objectives: int, told: int, pairs: int,
            seed: int = 0) -> dict[str, float]:
    """``{"mean_us", "median_us", "p95_us", "replay_s"}`` for one setting, with BLAS on one
    thread as in the driver (:func:`~raynas.run.threads.single_thread_blas`)."""
    import raynas.strategies

    objectives = OBJECTIVE_SETS[n_objectives]
    result = synthetic_result(space, objectives, seed)
    past = history_of(space, result, told, seed)
    cls = raynas.strategies.get(strategy_name)
    strategy = cls(space, seed=seed, objectives=objectives, budget=told + pairs)
    with single_thread_blas():
        started = time.perf_counter()
        strategy.replay(past)
        replay_s = time.perf_counter() - started
        times = time_pairs(strategy, result, pairs)
    return {"mean_us": 1e6 * statistics.fmean(times), "median_us": 1e6 * statistics.median(times),
            "p95_us": 1e6 * float(np.percentile(times, 95)), "replay_s": replay_s}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mobilenetv2")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--told", default="200,1000,10000")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--objectives", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each setting this many times and print the medians of "
                             "the rounds' figures, with the range of their means (a shared "
                             "machine's speed drifts between runs)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")

    import raynas.spaces

    space = SearchSpace.from_model(raynas.spaces.get(args.space))
    print(f"{args.strategy} on {args.space} ({space.size:,} genomes); CPU µs per ask+tell "
          f"over {args.pairs} pairs after `told` results; replay = time to replay them"
          + (f"; medians of {args.rounds} rounds" if args.rounds > 1 else ""))
    print(f"{'objectives':>10} {'told':>7} {'mean µs':>9} {'median µs':>10} {'p95 µs':>8} "
          f"{'replay s':>9}" + ("  means of the rounds" if args.rounds > 1 else ""))
    for n in (int(v) for v in args.objectives.split(",")):
        for told in (int(v) for v in args.told.split(",")):
            rounds = [measure(space, args.strategy, n, told, args.pairs)
                      for _ in range(args.rounds)]
            figures = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
            spread = (f"  {min(r['mean_us'] for r in rounds):.0f}-"
                      f"{max(r['mean_us'] for r in rounds):.0f}" if args.rounds > 1 else "")
            print(f"{n:>10} {told:>7} {figures['mean_us']:>9.0f} {figures['median_us']:>10.0f} "
                  f"{figures['p95_us']:>8.0f} {figures['replay_s']:>9.2f}{spread}", flush=True)


if __name__ == "__main__":
    main()
