"""One-shot benchmark: how well inherited-weight accuracy ranks architectures, and how fast.

``oneshot_bench()`` on the embedded digits data (resized to the space's input):

1. trains the supernet of a registered space on Ray Train (``workers`` DDP workers, gloo);
2. runs the one-shot search for ``candidates`` candidates over a pool of ``workers`` actors
   (wall time, candidates per second);
3. draws ``standalone`` random genomes (seeded), scores them with inherited weights and trains
   each from scratch with raynas's training loop (:func:`raynas.train.loop.train_model`, the
   same ``standalone_epochs`` for every genome, once per seed of ``standalone_seeds``, as Ray
   tasks), and reports Kendall's tau between the two accuracies, and the time per candidate
   of both (their ratio).

Both figures of the tau are taken on the held-out images (validation and test splits
together, 540 on digits), and the stand-alone one is the mean over the seeds: a difference of
one image on the 270 validation images alone is 0.37 points, and one training's accuracy
varies with its seed. The noise ceiling, the mean tau between two seeds' stand-alone
accuracies, says how well one training from scratch ranks the genomes as another does. Tau
on the validation images alone, against one seed (the figures the search ranks by), is
reported beside it, and so is the held-out tau against the mean of 1, 2, ... seeds
(:func:`tau_by_seeds`): how it grows as the reference's own training noise averages out.

``against_evolve()`` (``--against-evolve``) runs ``raynas oneshot`` end to end (supernet, search,
retraining of the top genomes), then ``raynas evolve`` on the same space, data and epochs per
trial for the same wall time (a ``raynas evolve`` process interrupted as with Ctrl-C, which
keeps every finished trial), and compares the best validation accuracy of each. Each run's
answer (its best genome) then trains again from scratch, once per seed of
``answer_seeds``, and is scored on the test split, which neither search saw: the best
validation figure of many noisy trials is biased upward by the choice itself.

Run it with ``python -m raynas.bench.oneshot`` (``--help`` for the options). Targets on 2
CPUs: tau >= 0.5; 2,000 candidates in under 5 minutes after the supernet is trained; the
retrained best at least as good as ``evolve``'s in the same time.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["OneShotBenchResult", "against_evolve", "oneshot_bench", "tau_by_seeds"]


@dataclass
class OneShotBenchResult:
    space: str
    space_size: int
    supernet_epochs: int
    supernet_seconds: float
    candidates: int
    search_seconds: float
    candidates_per_second: float
    cpu_seconds_per_candidate: float
    projected_seconds_2000: float  # 2,000 candidates on ``workers`` dedicated CPUs
    best_inherited_accuracy: float
    standalone: int
    standalone_epochs: int
    kendall_tau: float
    kendall_p: float
    kendall_tau_loss: float  # the same genomes ranked by validation loss (no ties)
    standalone_seconds_per_genome: float
    inherited: list[float]
    standalone_accuracy: list[float]
    inherited_loss: list[float]
    standalone_loss: list[float]
    standalone_seeds: int = 1
    kendall_tau_heldout: float = float("nan")  # held-out images, mean of the seeds
    kendall_p_heldout: float = float("nan")
    kendall_tau_heldout_loss: float = float("nan")  # inherited loss against that accuracy
    noise_ceiling: float = float("nan")  # mean tau between two seeds' stand-alone accuracies
    inherited_heldout: list[float] = field(default_factory=list)
    inherited_heldout_loss: list[float] = field(default_factory=list)
    standalone_heldout: list[list[float]] = field(default_factory=list)  # per seed
    # held-out tau against the mean of k seeds, k = 1 .. standalone_seeds (see tau_by_seeds)
    kendall_tau_by_seeds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _standalone(factory: Any, genome: dict[str, Any], bundle: Any, epochs: int,
                seed: int) -> tuple[float, float, float, float, float]:
    """``genome`` trained alone from scratch: validation accuracy and loss, held-out
    (validation and test) accuracy, test accuracy, and the training's seconds."""
    import torch

    from raynas.core.fixing import fix
    from raynas.train.loop import evaluate, train_model

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = fix(factory(), genome)
    result = train_model(model, bundle, epochs, seed=seed, device="cpu")
    test, _ = evaluate(model, bundle.test_x, bundle.test_y, mean=bundle.mean, std=bundle.std)
    n_valid, n_test = len(bundle.valid_y), len(bundle.test_y)
    heldout = (result.accuracy * n_valid + test * n_test) / (n_valid + n_test)
    return result.accuracy, result.loss, heldout, test, result.train_seconds


def _heldout(data: Any, bundle: Any) -> Any:
    """``data`` with the validation and test images together as its scoring set."""
    import torch

    return replace(data, valid_x=torch.cat([bundle.valid_x, bundle.test_x]),
                   valid_y=torch.cat([bundle.valid_y, bundle.test_y]))


def _mean_pairwise_tau(per_seed: list[list[float]]) -> float:
    """Mean Kendall tau over every pair of seeds (nan with one seed)."""
    from itertools import combinations

    from scipy.stats import kendalltau

    taus = [kendalltau(a, b)[0] for a, b in combinations(per_seed, 2)]
    return float(np.mean(taus)) if taus else float("nan")


def tau_by_seeds(scores: list[float], per_seed: list[list[float]]) -> list[float]:
    """Kendall tau of ``scores`` against the mean of ``k`` seeds' figures, for ``k`` = 1 ..
    len(per_seed), each averaged over every choice of ``k`` seeds: how the tau grows as the
    reference's training noise averages out."""
    from itertools import combinations

    from scipy.stats import kendalltau

    runs = np.asarray(per_seed, dtype=float)
    return [float(np.mean([kendalltau(scores, runs[list(chosen)].mean(axis=0))[0]
                           for chosen in combinations(range(len(runs)), k)]))
            for k in range(1, len(runs) + 1)]


def oneshot_bench(space: str = "nasbench201-small", *, supernet_epochs: int = 30,
                  workers: int = 2, candidates: int = 2000, standalone: int = 30,
                  standalone_epochs: int = 10, standalone_seeds: int = 3,
                  strategy: str = "evolution", seed: int = 0, batch_size: int = 64,
                  lr: float = 0.05, out: str | Path | None = None,
                  echo: Callable[[str], None] = print) -> OneShotBenchResult:
    """Run the benchmark (see the module docstring); starts a local Ray unless one runs."""
    import ray
    from scipy.stats import kendalltau

    import raynas.datasets
    import raynas.spaces
    from raynas.core.space import SearchSpace
    from raynas.oneshot import EvaluatorPool, make_eval_data, search_inherited, train_supernet

    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False)  # never join a cluster by accident
    factory = raynas.spaces.get(space)
    search_space = SearchSpace.from_model(factory())
    bundle = raynas.datasets.load("digits", input_shape=factory.input_shape)
    echo(f"space {space} ({search_space.size:,} genomes), digits {bundle.sizes()}, "
         f"{workers} worker(s)")
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="raynas-oneshot-"))
    supernet = train_supernet(factory, bundle, folder / "supernet", epochs=supernet_epochs,
                              batch_size=batch_size, lr=lr, seed=seed, num_workers=workers)
    echo(f"supernet: {supernet.epochs} epochs, {supernet.steps} steps in "
         f"{supernet.seconds:.1f} s, final train loss {supernet.loss:.3f}")

    data = make_eval_data(bundle, valid_limit=None, seed=seed)
    pool = EvaluatorPool(factory, supernet.state_dict(), data, num_actors=workers, seed=seed)
    try:
        pool.evaluate([search_space.sample(0)] * workers, batch=1)  # actors up and warm
        found = search_inherited(search_space, pool, candidates=candidates, strategy=strategy,
                                 seed=seed)
        projected = 2000 * found.cpu_seconds_per_candidate / workers
        echo(f"search: {len(found.rows)} candidates in {found.seconds:.1f} s "
             f"({found.candidates_per_second:.1f}/s), {found.cpu_seconds_per_candidate * 1000:.0f} "
             f"CPU-ms per candidate (2,000 on {workers} dedicated CPU(s): {projected:.0f} s), "
             f"best inherited accuracy {found.best['accuracy']:.4f}")
        rng = np.random.default_rng(seed + 1)
        genomes: list[dict[str, Any]] = []
        while len(genomes) < standalone:
            genome = search_space.sample(rng)
            if genome not in genomes:
                genomes.append(genome)
        scored = pool.evaluate(genomes)
        inherited = [r["accuracy"] for r in scored]
        inherited_loss = [r["loss"] for r in scored]
    finally:
        pool.shutdown()
    with EvaluatorPool(factory, supernet.state_dict(), _heldout(data, bundle),
                       num_actors=workers, seed=seed) as heldout_pool:
        scored = heldout_pool.evaluate(genomes)
    inherited_heldout = [r["accuracy"] for r in scored]
    inherited_heldout_loss = [r["loss"] for r in scored]

    task = ray.remote(num_cpus=1)(_standalone)
    bundle_ref = ray.put(bundle)
    seeds = [seed + i for i in range(standalone_seeds)]
    futures = [[task.remote(factory, g, bundle_ref, standalone_epochs, s) for g in genomes]
               for s in seeds]
    alone = [ray.get(per_seed) for per_seed in futures]  # [seed][genome]
    accuracy = [a for a, _, _, _, _ in alone[0]]  # the first seed, on the validation images
    loss = [v for _, v, _, _, _ in alone[0]]
    heldout = [[h for _, _, h, _, _ in per_seed] for per_seed in alone]
    heldout_mean = np.mean(heldout, axis=0)
    seconds_each = float(np.mean([r[4] for per_seed in alone for r in per_seed]))
    tau, p_value = kendalltau(inherited, accuracy)
    tau_loss = float(kendalltau(inherited_loss, loss)[0])
    tau_heldout, p_heldout = kendalltau(inherited_heldout, heldout_mean)
    tau_heldout_loss = float(kendalltau(-np.asarray(inherited_heldout_loss), heldout_mean)[0])
    ceiling = _mean_pairwise_tau(heldout)
    by_seeds = tau_by_seeds(inherited_heldout, heldout)
    per_candidate = 1.0 / found.candidates_per_second if found.candidates_per_second else float("nan")
    echo(f"stand-alone: {standalone} genomes x {standalone_epochs} epochs x {len(seeds)} "
         f"seed(s), {seconds_each:.2f} s each; validation accuracy (seed {seed}) "
         f"{min(accuracy):.3f}..{max(accuracy):.3f}, held-out mean "
         f"{heldout_mean.min():.3f}..{heldout_mean.max():.3f}")
    echo(f"Kendall tau (inherited vs stand-alone), validation images, seed {seed}: "
         f"{tau:.3f} (p={p_value:.2g}) on accuracy, {tau_loss:.3f} on loss")
    echo(f"Kendall tau, held-out images ({len(data.valid_y) + len(bundle.test_y)}), stand-alone "
         f"mean of {len(seeds)} seed(s): {tau_heldout:.3f} (p={p_heldout:.2g}) by inherited "
         f"accuracy, {tau_heldout_loss:.3f} by inherited loss; noise ceiling (seed against "
         f"seed) {ceiling:.3f}")
    echo("Kendall tau, held-out images, against the mean of 1, 2, ... seeds: "
         + ", ".join(f"{t:.3f}" for t in by_seeds))
    echo(f"time per candidate: inherited {per_candidate * 1000:.0f} ms vs stand-alone "
         f"{seconds_each:.2f} s per CPU (ratio {seconds_each / per_candidate / workers:.0f}x "
         f"on {workers} CPU(s))")
    echo(f"wall time for {len(found.rows)} candidates: {found.seconds:.1f} s")
    return OneShotBenchResult(
        space=space, space_size=search_space.size, supernet_epochs=supernet.epochs,
        supernet_seconds=supernet.seconds, candidates=len(found.rows),
        search_seconds=found.seconds, candidates_per_second=found.candidates_per_second,
        cpu_seconds_per_candidate=found.cpu_seconds_per_candidate,
        projected_seconds_2000=projected,
        best_inherited_accuracy=float(found.best["accuracy"]), standalone=standalone,
        standalone_epochs=standalone_epochs, kendall_tau=float(tau), kendall_p=float(p_value),
        standalone_seconds_per_genome=seconds_each, inherited=inherited,
        standalone_accuracy=accuracy, kendall_tau_loss=tau_loss, inherited_loss=inherited_loss,
        standalone_loss=loss, standalone_seeds=len(seeds), kendall_tau_heldout=float(tau_heldout),
        kendall_p_heldout=float(p_heldout), kendall_tau_heldout_loss=tau_heldout_loss,
        noise_ceiling=ceiling, inherited_heldout=inherited_heldout,
        inherited_heldout_loss=inherited_heldout_loss, standalone_heldout=heldout,
        kendall_tau_by_seeds=by_seeds)


def against_evolve(space: str = "nasbench201-small", *, supernet_epochs: int = 30,
                   candidates: int = 2000, retrain_top_k: int = 3, epochs: int = 10,
                   workers: int = 2, seed: int = 0, answer_seeds: int = 3,
                   out: str | Path | None = None,
                   echo: Callable[[str], None] = print) -> dict[str, Any]:
    """``raynas oneshot`` end to end, then ``raynas evolve`` given its wall time (see the
    module docstring); returns both runs' wall time, trials, best validation accuracy, and
    their answers' test accuracy when trained again (``answer_seeds`` seeds, 0: skipped).
    Runs on a local Ray of its own (none may be running in this process)."""
    import os
    import signal
    import subprocess
    import sys

    from raynas.oneshot.run import oneshot
    from raynas.oneshot.settings import OneshotSettings
    from raynas.results.store import Status, ranked, read_trials

    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="raynas-vs-evolve-"))
    started = time.perf_counter()
    oneshot(OneshotSettings(space=space, dataset="digits", supernet_epochs=supernet_epochs,
                            candidates=candidates, retrain_top_k=retrain_top_k,
                            retrain_epochs=epochs, workers=workers, seed=seed,
                            out=str(folder / "oneshot")), quiet=True)
    wall = time.perf_counter() - started
    rows = read_trials(folder / "oneshot")
    retrained = rows[(rows["stage"] == "retrain") & (rows["status"] == Status.COMPLETED)]
    echo(f"oneshot: {wall:.0f} s, best retrained accuracy {retrained['accuracy'].max():.4f} "
         f"({len(retrained)} retrained, {epochs} epochs each)")

    command = [sys.executable, "-m", "raynas.cli.main", "evolve", "--space", space,
               "--dataset", "digits", "--epochs", str(epochs), "--trials", "100000",
               "--seed", str(seed), "--out", str(folder / "evolve")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "RAY_ADDRESS": ""})
    try:
        process.wait(timeout=wall)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the run stops, finished trials kept
        process.wait(timeout=120)
    trials = read_trials(folder / "evolve")
    done = trials[trials["status"] == Status.COMPLETED]
    result = {"wall_seconds": wall, "oneshot_best": float(retrained["accuracy"].max()),
              "oneshot_retrained": len(retrained), "evolve_trials": len(done),
              "evolve_best": float(done["accuracy"].max()) if len(done) else float("nan"),
              "epochs": epochs}
    echo(f"evolve in the same {wall:.0f} s: {len(done)} trials, best accuracy "
         f"{result['evolve_best']:.4f}")
    if answer_seeds > 0 and len(retrained) and len(done):
        answers = {"oneshot": ranked(retrained).iloc[0]["genome"],
                   "evolve": ranked(done).iloc[0]["genome"]}
        tests = _test_accuracy(space, answers, epochs, [seed + 100 + i for i in range(answer_seeds)],
                               workers)
        for name, genome in answers.items():
            result[f"{name}_answer"] = genome
            result[f"{name}_answer_test"] = tests[name]
            echo(f"{name}'s answer trained again ({answer_seeds} seed(s), {epochs} epochs): test "
                 f"accuracy {np.mean(tests[name]):.4f} (each {', '.join(f'{t:.4f}' for t in tests[name])})")
    return result


def _test_accuracy(space: str, genomes: dict[str, str], epochs: int, seeds: list[int],
                   workers: int) -> dict[str, list[float]]:
    """Test-split accuracy of each genome (JSON) trained from scratch once per seed, as Ray
    tasks on a local Ray of ``workers`` CPUs."""
    import json

    import ray

    import raynas.datasets
    import raynas.spaces

    factory = raynas.spaces.get(space)
    ray.init(address="local", num_cpus=workers, include_dashboard=False)
    try:
        bundle_ref = ray.put(raynas.datasets.load("digits", input_shape=factory.input_shape))
        task = ray.remote(num_cpus=1)(_standalone)
        futures = {name: [task.remote(factory, json.loads(genome), bundle_ref, epochs, s)
                          for s in seeds] for name, genome in genomes.items()}
        return {name: [r[3] for r in ray.get(f)] for name, f in futures.items()}
    finally:
        ray.shutdown()


def main() -> None:  # pragma: no cover - a thin command over oneshot_bench
    import json

    import click

    @click.command(help="One-shot benchmark on the digits data: Kendall's tau of inherited "
                        "against stand-alone accuracy, candidates per second, wall time.")
    @click.option("--space", default="nasbench201-small", show_default=True)
    @click.option("--supernet-epochs", default=30, show_default=True)
    @click.option("--workers", default=2, show_default=True)
    @click.option("--candidates", default=2000, show_default=True)
    @click.option("--standalone", default=30, show_default=True)
    @click.option("--standalone-epochs", default=10, show_default=True)
    @click.option("--standalone-seeds", default=3, show_default=True,
                  help="Stand-alone trainings per genome (seeds); the reference is their mean.")
    @click.option("--strategy", default="evolution", show_default=True)
    @click.option("--seed", default=0, show_default=True)
    @click.option("--lr", default=0.05, show_default=True)
    @click.option("--out", type=click.Path(file_okay=False), default=None,
                  help="Folder of the supernet (a finished one there is reused). [a new "
                       "temporary folder]")
    @click.option("--json-out", type=click.Path(dir_okay=False), default=None)
    @click.option("--against-evolve", "versus_evolve", is_flag=True,
                  help="Instead: oneshot end to end (retraining the top 3 for "
                       "--standalone-epochs) against evolve given the same wall time; each "
                       "answer then trains again --standalone-seeds times, scored on test.")
    def command(json_out: str | None, versus_evolve: bool, **options: Any) -> None:
        started = time.perf_counter()
        if versus_evolve:
            result = against_evolve(
                options["space"], supernet_epochs=options["supernet_epochs"],
                candidates=options["candidates"], epochs=options["standalone_epochs"],
                workers=options["workers"], seed=options["seed"],
                answer_seeds=options["standalone_seeds"], out=options["out"])
            print(f"total {time.perf_counter() - started:.1f} s")
            if json_out:
                Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
            return
        result = oneshot_bench(**options)
        print(f"total {time.perf_counter() - started:.1f} s")
        if json_out:
            Path(json_out).write_text(json.dumps(result.to_dict(), indent=2) + "\n")

    command()


if __name__ == "__main__":  # pragma: no cover
    main()
