"""``raynas bench-fidelity``: early stopping against full training, side by side.

For each seed, the same search (space, dataset, strategy, trials, epochs) runs with each
scheduler (``fifo``: every trial trains ``epochs``; ``asha`` by default) through the real
``raynas evolve`` driver on one local Ray started once. Per run it measures the epochs
trained over all trials (from the rows' ``epochs``), the wall time, and the best
full-fidelity accuracy (completed rows only); then, per scheduler against the baseline,
the epoch ratio, the accuracy gap (points) and how often the best genome is the same.

The best full-fidelity accuracy is the search's own figure: the maximum of the noisy
validation accuracies of the trials that reached full fidelity. A max over more figures is
higher in expectation even when the architectures are no better (selection bias, the
winner's curse), and fifo takes it over every trial while an early-stopping scheduler
takes it over the few it let finish; one accuracy on the 270 ``digits`` validation images
also has a standard error near 0.9 points. So, after all the searches (``retrain_seeds`` K,
default 3, 0 for none), each run's best genome is trained from scratch K times, with the
seeds :data:`RETRAIN_SEED_BASE` + 0..K-1 (the same for every run, and each genome trained
once per seed: two runs that return the same genome get the same figure), for the search's
epochs on its training data and settings, and scored on the validation and test splits
together (540 images; the test split is never seen by a search). The mean over the K
trainings is the run's *retrained accuracy*, an unbiased figure of the quality of the
architecture the search returned; per scheduler, the median over the search seeds of its
gap to the fifo run of the same seed is "retrained vs fifo (points)".
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

BASELINE = "fifo"
#: The retraining seeds are ``RETRAIN_SEED_BASE + i``, ``i < retrain_seeds``: away from the
#: search's trial seeds of small run seeds, and the same for every run.
RETRAIN_SEED_BASE = 1000
DEFAULT_RETRAIN_SEEDS = 3


@dataclass
class FidelityRun:
    scheduler: str
    seed: int
    epochs_trained: int
    wall_seconds: float
    best_accuracy: float | None
    best_genome: str | None
    stopped: int
    completed: int
    #: Mean accuracy of ``best_genome`` trained from scratch on fresh seeds, on the
    #: validation and test splits together (None: not retrained, or no best genome).
    retrained_accuracy: float | None = None


def run_one(scheduler: str, seed: int, out: Path, scheduler_options: dict[str, Any] | None = None,
            **settings: Any) -> FidelityRun:
    """One ``raynas evolve`` run; its figures from the rows it wrote. ``scheduler_options``
    (``grace_epochs``, ``reduction_factor``) apply to every scheduler but fifo."""
    if scheduler != BASELINE:
        settings.update(scheduler_options or {})
    from raynas.results.store import Status, ranked, read_trials
    from raynas.run.driver import evolve
    from raynas.run.settings import EvolveSettings

    config = EvolveSettings(scheduler=scheduler, seed=seed, out=str(out), **settings)
    started = time.perf_counter()
    evolve(config, quiet=True)
    wall = time.perf_counter() - started
    rows = read_trials(out)
    full = ranked(rows)
    full = full[full["status"] == Status.COMPLETED]
    return FidelityRun(
        scheduler=scheduler, seed=seed, epochs_trained=int(rows["epochs"].fillna(0).sum()),
        wall_seconds=wall, best_accuracy=float(full.iloc[0]["accuracy"]) if len(full) else None,
        best_genome=full.iloc[0]["genome"] if len(full) else None,
        stopped=int((rows["status"] == Status.STOPPED).sum()),
        completed=int((rows["status"] == Status.COMPLETED).sum()))


def run_bench(schedulers: Sequence[str], seeds: Sequence[int], num_cpus: int | None = None,
              workdir: Path | None = None, progress: Any = None,
              retrain_seeds: int = DEFAULT_RETRAIN_SEEDS,
              retrain_progress: Callable[[FidelityRun], None] | None = None,
              log: Callable[[str], None] | None = None, **settings: Any) -> list[FidelityRun]:
    """Every scheduler on every seed (alternating, so load on a shared machine hits each
    alike) on one local Ray; ``settings`` are ``EvolveSettings`` fields shared by all runs
    (plus ``scheduler_options``, see :func:`run_one`). Then, Ray shut down, each run's best
    genome is retrained ``retrain_seeds`` times in this process (:func:`retrain_runs`);
    ``retrain_progress(run)`` after each run's figure, ``log(text)`` for a failed training."""
    import ray

    from raynas.run.ray_session import set_tune_env

    set_tune_env()
    retrainer = None  # built first: its data and space are checked before hours of search
    if retrain_seeds > 0:
        retrainer = Retrainer.for_settings(
            {k: v for k, v in settings.items() if k != "scheduler_options"})
    runs = []
    with tempfile.TemporaryDirectory(prefix="raynas-bench-fidelity-") as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR")
        try:
            for seed in seeds:
                for scheduler in schedulers:
                    run = run_one(scheduler, seed, base / f"{scheduler}-seed{seed}", **settings)
                    runs.append(run)
                    if progress is not None:
                        progress(run)
        finally:
            ray.shutdown()
    if retrainer is not None:
        retrain_runs(runs, retrainer, retrain_seed_list(retrain_seeds),
                     progress=retrain_progress, log=log)
    return runs


def retrain_seed_list(count: int) -> list[int]:
    """The seeds of ``count`` retrainings: ``RETRAIN_SEED_BASE + i``."""
    return [RETRAIN_SEED_BASE + i for i in range(int(count))]


class Retrainer:
    """Trains a genome from scratch as a trial does and scores it on held-out images.

    The model is ``fix(space factory, genome)`` built after seeding with the retraining
    seed, trained by :func:`raynas.train.loop.train_model` (same epochs, batch size, lr,
    training images and step cap as the search) on the CPU with one torch thread, then
    evaluated on the bundle's validation and test splits together (:attr:`eval_images`).
    Figures are cached by ``(genome text, seed)``: a genome trains once per seed.
    """

    def __init__(self, space: str, epochs: int, dataset: str = "digits",
                 limit: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, max_batches_per_epoch: int | None = None,
                 data_dir: str | None = None, download: bool = False):
        import torch

        from raynas.run.space_source import load_dataset_for, parse_space
        from raynas.train.loop import DEFAULT_BATCH_SIZE, DEFAULT_LR

        self.source = parse_space(space)
        self.bundle, _, _ = load_dataset_for(self.source, dataset, data_dir=data_dir,
                                             download=download, limit=limit)
        self.eval_x = torch.cat([self.bundle.valid_x, self.bundle.test_x])
        self.eval_y = torch.cat([self.bundle.valid_y, self.bundle.test_y])
        self.epochs = int(epochs)
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE
        self.lr = lr or DEFAULT_LR
        self.max_batches_per_epoch = max_batches_per_epoch
        self.cache: dict[tuple[str, int], float] = {}
        self.trainings = 0  # trainings actually run (cache misses)

    @classmethod
    def for_settings(cls, settings: dict[str, Any]) -> "Retrainer":
        """The retrainer of a search run with these ``EvolveSettings`` fields (its defaults
        for the fields not given)."""
        from raynas.run.settings import EvolveSettings

        s = EvolveSettings(**settings)
        return cls(s.space, s.epochs, dataset=s.dataset, limit=s.limit,
                   batch_size=s.batch_size, lr=s.lr,
                   max_batches_per_epoch=s.max_batches_per_epoch, data_dir=s.data_dir,
                   download=s.download)

    @property
    def eval_images(self) -> int:
        """Images each figure is measured on (validation + test)."""
        return len(self.eval_y)

    def accuracy(self, genome: str, seed: int) -> float:
        """Accuracy of ``genome`` (the rows' genome text) trained from scratch with ``seed``."""
        key = (genome, int(seed))
        if key not in self.cache:
            self.cache[key] = self._train(genome, int(seed))
            self.trainings += 1
        return self.cache[key]

    def mean_accuracy(self, genome: str, seeds: Sequence[int]) -> float:
        """The mean of :meth:`accuracy` over ``seeds``."""
        return statistics.fmean(self.accuracy(genome, seed) for seed in seeds)

    def _train(self, genome: str, seed: int) -> float:
        import json

        import torch

        from raynas.core.fixing import fix
        from raynas.train.loop import evaluate, seed_torch, train_model

        device = torch.device("cpu")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            seed_torch(seed, device)
            model = fix(self.source.factory(), json.loads(genome))
            train_model(model, self.bundle, self.epochs, batch_size=self.batch_size, lr=self.lr,
                        device=device, seed=seed,
                        max_batches_per_epoch=self.max_batches_per_epoch)
            accuracy, _ = evaluate(model, self.eval_x, self.eval_y, mean=self.bundle.mean,
                                   std=self.bundle.std, device=device)
        finally:
            torch.set_num_threads(threads)
        return float(accuracy)


def retrain_runs(runs: Sequence[FidelityRun], retrainer: Retrainer, seeds: Sequence[int],
                 progress: Callable[[FidelityRun], None] | None = None,
                 log: Callable[[str], None] | None = None) -> None:
    """Set each run's ``retrained_accuracy``: its best genome's mean figure over ``seeds``.
    A run without a best genome keeps None; so does one whose genome fails to train on a
    seed (diverged, ...), named through ``log``, so that the searches' figures survive."""
    for run in runs:
        if run.best_genome is None or not seeds:
            continue
        try:
            run.retrained_accuracy = retrainer.mean_accuracy(run.best_genome, seeds)
        except Exception as err:  # noqa: BLE001 - hours of searches are not lost to one
            if log is not None:
                log(f"{run.scheduler} seed {run.seed}: retraining {run.best_genome} failed: "
                    f"{type(err).__name__}: {err}")
            continue
        if progress is not None:
            progress(run)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary_rows(runs: Sequence[FidelityRun]) -> list[dict[str, Any]]:
    """Per scheduler: medians over the seeds, and the comparison with the fifo run of the
    same seed (epoch ratio, accuracy gap in points, same best genome); with retrained
    figures, their median (``retrained``) and the median gap to the same seed's fifo
    retrained figure (``retrained_gap_points``, fifo minus this scheduler, as
    ``gap_points``), over the seeds where both runs have one."""
    base = {r.seed: r for r in runs if r.scheduler == BASELINE}
    out = []
    for scheduler in dict.fromkeys(r.scheduler for r in runs):
        mine = [r for r in runs if r.scheduler == scheduler]
        paired = [(r, base[r.seed]) for r in mine if r.seed in base]
        ratios = [r.epochs_trained / b.epochs_trained for r, b in paired if b.epochs_trained]
        gaps = [100 * (b.best_accuracy - r.best_accuracy) for r, b in paired
                if r.best_accuracy is not None and b.best_accuracy is not None]
        retrained_gaps = [100 * (b.retrained_accuracy - r.retrained_accuracy) for r, b in paired
                          if r.retrained_accuracy is not None
                          and b.retrained_accuracy is not None]
        out.append({
            "scheduler": scheduler, "seeds": len(mine),
            "epochs": _median([r.epochs_trained for r in mine]),
            "wall_s": _median([r.wall_seconds for r in mine]),
            "best": _median([r.best_accuracy for r in mine if r.best_accuracy is not None]),
            "epoch_ratio": _median(ratios), "gap_points": _median(gaps),
            "same_best": sum(r.best_genome == b.best_genome for r, b in paired),
            "stopped": _median([r.stopped for r in mine]),
            "retrained": _median([r.retrained_accuracy for r in mine
                                  if r.retrained_accuracy is not None]),
            "retrained_gap_points": _median(retrained_gaps),
        })
    return out


def _retrained(runs_or_rows: Sequence[Any], key: Callable[[Any], Any]) -> bool:
    """Whether any figure is there (the retrained columns are shown only then)."""
    return any(v is not None and v == v for v in map(key, runs_or_rows))


def format_runs(runs: Sequence[FidelityRun]) -> str:
    """One Markdown line per run (with a ``retrained acc`` column when a run has one)."""
    extra = _retrained(runs, lambda r: r.retrained_accuracy)
    lines = ["| scheduler | seed | epochs trained | wall s | best full-fidelity acc | "
             "completed | stopped |" + (" retrained acc |" if extra else ""),
             "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if extra else "")]
    for r in runs:
        best = "" if r.best_accuracy is None else f"{100 * r.best_accuracy:.2f}"
        line = (f"| {r.scheduler} | {r.seed} | {r.epochs_trained} | {r.wall_seconds:.1f} | "
                f"{best} | {r.completed} | {r.stopped} |")
        if extra:
            line += ("" if r.retrained_accuracy is None
                     else f" {100 * r.retrained_accuracy:.2f}") + " |"
        lines.append(line)
    return "\n".join(lines)


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The per-scheduler medians as a Markdown table (with ``retrained acc`` and
    ``retrained vs fifo (points)`` columns when there are retrained figures)."""
    extra = _retrained(rows, lambda row: row.get("retrained"))
    lines = ["| scheduler | epochs trained | wall s | best full-fidelity acc | epochs vs fifo | "
             "best vs fifo (points) | same best genome as fifo |"
             + (" retrained acc | retrained vs fifo (points) |" if extra else ""),
             "| --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if extra else "")]
    for row in rows:
        line = (f"| {row['scheduler']} | {row['epochs']:.0f} | {row['wall_s']:.1f} | "
                f"{100 * row['best']:.2f} | {row['epoch_ratio']:.0%} | {-row['gap_points']:+.2f} | "
                f"{row['same_best']} of {row['seeds']} |")
        if extra:
            line += (f" {100 * row['retrained']:.2f} | "
                     f"{0.0 - row['retrained_gap_points']:+.2f} |")  # 0.0 - : no -0.00
        lines.append(line)
    return "\n".join(lines)
