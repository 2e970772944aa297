"""``raynas oneshot``: Single Path One-Shot search as a raynas run, in three stages.

1. the supernet trains on Ray Train into ``OUT/supernet/`` (:func:`train_supernet`; an
   interrupted training resumes from its last checkpoint);
2. the strategy searches over inherited weights in a pool of Ray actors
   (:func:`search_inherited`): one row per candidate, ``stage="oneshot"``;
3. the best ``retrain_top_k`` distinct candidates train from scratch as ``evolve``'s trials on
   Ray Tune (:mod:`.retrain`): rows with ``stage="retrain"``; the best of them is the answer.

Everything ``evolve`` has is reused: :class:`RunPlan` (space, dataset and fit check before Ray
starts), the run folder and its lock, ``run.json``, the Parquet writer, the Tune trainable and
recorder, Ray's session. ``resume=True`` continues each stage where it stopped: the supernet
from its checkpoint, the search from its rows (the strategy replays them), the retraining with
the genomes that have no ``retrain`` row yet.

Layer: above ``raynas.run`` (it orchestrates its pieces), below ``raynas.cli``.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

from raynas.core.space import SearchSpace
from raynas.oneshot.settings import INHERITED_METRICS, ONESHOT_ONLY, OneshotSettings
from raynas.results.run_dir import RunDir
from raynas.results.store import ResultsError, ResultsWriter, Status, read_trials
from raynas.run.errors import RunError
from raynas.run.plan import RunPlan
from raynas.run.ray_session import max_concurrent, ray_session, set_tune_env
from raynas.run.resume import resume_settings
from raynas.run.settings import strategy_options
from raynas.run.space_source import SpaceSource
from raynas.run.threads import single_thread_blas
from raynas.run.tune_lookup import memoized_trainable_lookup

__all__ = ["OneshotSummary", "check_settings", "oneshot", "oneshot_resume_settings"]

SUPERNET_DIR = "supernet"


@dataclass(frozen=True)
class SourceFactory:
    """A picklable model factory for Ray workers: the space's source, resolved in the worker
    (a space file travels with the run's ``runtime_env``, as in ``evolve``)."""

    source: SpaceSource

    def __call__(self) -> Any:
        return self.source.factory()()


@dataclass
class OneshotSummary:
    """A finished (or interrupted) one-shot run: its rows per stage and the answer."""

    out: Path
    candidates: int             # oneshot rows
    planned_candidates: int
    retrained: int              # retrain rows
    planned_retrain: int
    counts: dict[str, int]
    best: dict[str, Any] | None            # the best retrained row (the run's answer)
    best_inherited: dict[str, Any] | None  # the best oneshot row
    supernet_checkpoint: Path | None = None
    supernet_loss: float | None = None
    kendall_tau: float | None = None

    @property
    def interrupted(self) -> bool:
        return (self.candidates < self.planned_candidates
                or self.retrained < self.planned_retrain)


def check_settings(settings: OneshotSettings) -> None:
    """The one-shot rules the settings model cannot state alone: a ``RunError`` names them."""
    if settings.retrain_top_k > settings.candidates:
        raise RunError(f"--retrain-top-k must be <= --candidates, got retrain_top_k="
                       f"{settings.retrain_top_k}, candidates={settings.candidates}; lower "
                       f"--retrain-top-k or raise --candidates")
    for name in ("max_params", "max_flops", "max_latency_ms"):
        if getattr(settings, name) is not None:
            raise RunError(f"--{name.replace('_', '-')} does not apply to raynas oneshot (every "
                           f"candidate shares the supernet), got {getattr(settings, name)}; drop "
                           f"it, or search with `raynas evolve`")
    unmeasured = [metric for metric in settings.objectives if metric not in INHERITED_METRICS]
    if unmeasured:
        raise RunError(f"--objective {unmeasured[0]}: the one-shot search measures only "
                       f"{', '.join(INHERITED_METRICS)} with inherited weights; choose among "
                       f"those, or search with `raynas evolve`")


def oneshot_resume_settings(run_dir: Path, overrides: dict[str, Any]) -> OneshotSettings:
    """The settings of an earlier one-shot run with the options given again (as ``evolve
    --resume``); an ``evolve`` run's folder is a ``RunError``."""
    try:
        recorded = RunDir(run_dir).read_resumable_info().settings
    except ResultsError as err:
        raise RunError(str(err)) from None
    if not all(name in recorded for name in ONESHOT_ONLY):
        raise RunError(f"--resume {run_dir}: not a one-shot run (its run.json lacks "
                       f"{', '.join(ONESHOT_ONLY)}); continue it with `raynas evolve --resume "
                       f"{run_dir}`")
    return cast(OneshotSettings, resume_settings(Path(run_dir), overrides, model=OneshotSettings))


def oneshot(settings: OneshotSettings, resume: bool = False, quiet: bool = False,
            echo: Callable[[str], None] | None = None) -> OneshotSummary:
    """Run (or with ``resume``, continue) a one-shot search; see the module docstring.

    ``RunError`` (a ``ValueError``) for bad settings, a space with value choices, or a
    supernet whose loss turned NaN (naming the kept checkpoint).
    """
    say = echo if echo is not None else (lambda text: None if quiet else
                                         print(text, file=sys.stderr, flush=True))
    check_settings(settings)
    set_tune_env()
    plan = RunPlan.build(settings, resume)
    _check_weight_sharing(plan)
    out = plan.run_dir.path
    supernet_dir = out / SUPERNET_DIR
    _check_fresh_supernet(supernet_dir, resume)
    writer = ResultsWriter(out, plan.space.keys)
    supernet = None
    try:
        plan.source.keep_copy(out)
        plan.run_dir.write_info(plan.run_info())
        with ray_session(plan.settings, plan.source.runtime_env()), single_thread_blas():
            supernet = _train_supernet(plan, supernet_dir, say)
            _search(plan, supernet, writer, say, quiet)
            writer.flush()
            _retrain(plan, writer, say, quiet)
    except BaseException as err:
        writer.close(compact=False)  # every finished row lands in Parquet; the error stays
        from raynas.oneshot.train_supernet import SupernetDiverged

        if isinstance(err, SupernetDiverged):
            raise RunError(str(err)) from None
        raise
    writer.close()
    return summarize(out, plan.settings, supernet)


def summarize(out: Path, settings: OneshotSettings, supernet: Any = None) -> OneshotSummary:
    """The summary of the one-shot run in ``out``: rows per stage, the best retrained row (the
    answer), the best inherited-weight row (by the run's objectives) and Kendall's tau
    between the two accuracies."""
    from raynas.oneshot.retrain import inherited_ranking
    from raynas.results.stages import inherited_vs_retrained, kendall_tau
    from raynas.results.store import counts, ranked

    rows = read_trials(out)
    searched, retrained = _stage_rows(out, "oneshot"), _stage_rows(out, "retrain")
    best, best_inherited = ranked(retrained), inherited_ranking(searched, settings.objectives)
    planned_retrain = min(settings.retrain_top_k,
                          int(searched.loc[searched.status == Status.COMPLETED, "genome"].nunique()))
    return OneshotSummary(
        out=out, candidates=len(searched), planned_candidates=settings.candidates,
        retrained=len(retrained), planned_retrain=planned_retrain, counts=counts(rows),
        best=best.iloc[0].to_dict() if len(best) else None,
        best_inherited=best_inherited.iloc[0].to_dict() if len(best_inherited) else None,
        supernet_checkpoint=getattr(supernet, "checkpoint", None),
        supernet_loss=getattr(supernet, "loss", None),
        kendall_tau=kendall_tau(inherited_vs_retrained(rows)))


def _check_weight_sharing(plan: RunPlan) -> None:
    from raynas.oneshot.supernet import check_weight_sharing

    try:
        check_weight_sharing(plan.space)
    except ValueError as err:
        raise RunError(f"--space {plan.settings.space}: {err}") from None


def _check_fresh_supernet(folder: Path, resume: bool) -> None:
    from raynas.oneshot.supernet import latest_checkpoint

    if not resume and folder.is_dir() and latest_checkpoint(folder) is not None:
        raise RunError(f"{folder.parent} already holds a supernet checkpoint; continue the run "
                       f"with `raynas oneshot --resume {folder.parent}` or choose another --out")


def _train_supernet(plan: RunPlan, folder: Path, say: Callable[[str], None]) -> Any:
    """Stage 1: train (or resume, or find done) the supernet; returns its ``SupernetResult``."""
    import ray

    from raynas.oneshot.train_supernet import train_supernet

    s: OneshotSettings = plan.settings  # type: ignore[assignment]
    use_gpu = s.gpus_per_trial > 0
    if use_gpu and ray.cluster_resources().get("GPU", 0) < s.workers:
        raise RunError(f"--gpus-per-trial {s.gpus_per_trial}: supernet training takes one GPU per "
                       f"worker, got --workers {s.workers} and "
                       f"{ray.cluster_resources().get('GPU', 0):g} GPU(s); lower --workers or "
                       f"use --gpus-per-trial 0")
    say(f"stage 1/3: supernet training, {s.supernet_epochs} epoch(s) on {s.workers} Ray Train "
        f"worker(s) -> {folder}")
    try:
        result = train_supernet(SourceFactory(plan.source), plan.data, folder,
                                epochs=s.supernet_epochs, batch_size=s.batch_size or 64,
                                lr=s.supernet_lr, seed=s.seed, num_workers=s.workers,
                                use_gpu=use_gpu)
    except ValueError as err:
        raise RunError(f"supernet training: {err}") from None
    say(f"  supernet: epoch {result.epochs}, loss {result.loss:.4f}, checkpoint {result.checkpoint}")
    return result


def _search(plan: RunPlan, supernet: Any, writer: ResultsWriter, say: Callable[[str], None],
            quiet: bool) -> None:
    """Stage 2: the candidates still to score, with the strategy rebuilt from the rows."""
    from raynas.oneshot.evaluate import EvaluatorPool, make_eval_data
    from raynas.oneshot.search import search_inherited
    from raynas.results.objectives import history
    from raynas.run.progress import progress_bar

    s: OneshotSettings = plan.settings  # type: ignore[assignment]
    rows = _stage_rows(plan.run_dir.path, "oneshot")
    done = len(rows)
    remaining = s.candidates - done
    if remaining <= 0:
        say(f"stage 2/3: search done ({done} candidates)")
        return
    say(f"stage 2/3: {remaining} candidate(s) scored with inherited weights ({s.strategy}, "
        f"{s.workers} actor(s))" + (f", after {done} done" if done else ""))
    known = {SearchSpace.genome_id(_json(g)): t for g, t in zip(rows["genome"], rows["trial_id"])}
    options = {**strategy_options(s), "budget": s.candidates}
    bar = progress_bar("[bold]candidates", "best", remaining=True)
    task = bar.add_task("candidates", total=s.candidates, completed=done, best="-")
    best = [rows.loc[rows.status == Status.COMPLETED, "accuracy"].max() if done else None]

    def on_row(row: dict[str, Any]) -> None:
        writer.add(row)
        writer.flush_due()
        if row.get("accuracy") is not None:
            best[0] = row["accuracy"] if best[0] is None else max(best[0], row["accuracy"])
        bar.update(task, advance=1, best=f"best {best[0]:.4f}" if best[0] is not None else "-")

    live = bar.console.is_terminal and not quiet
    if live:
        bar.start()
    try:
        with EvaluatorPool(SourceFactory(plan.source), supernet.state_dict(),
                           make_eval_data(plan.data, seed=s.seed), num_actors=s.workers,
                           cpus_per_actor=s.cpus_per_trial, gpus_per_actor=s.gpus_per_trial,
                           seed=s.seed) as pool:
            try:
                found = search_inherited(
                    plan.space, pool, candidates=remaining, strategy=s.strategy, seed=s.seed,
                    strategy_options=options, on_row=on_row, epochs=supernet.epochs,
                    first_order=int(rows["order"].max()) + 1 if done else 1,
                    history=list(history(rows, s.objectives)) if done else None,
                    known_trials=known, objectives=s.objectives)
            except TypeError as err:  # a strategy option the strategy does not take
                raise RunError(f"--strategy {s.strategy}: {err}") from None
    finally:
        if live:
            bar.stop()
    say(f"  searched {len(found.rows)} candidate(s) in {found.seconds:.1f} s "
        f"({found.candidates_per_second:.1f}/s)" + (", every genome of the space proposed"
                                                   if found.exhausted else ""))


def _retrain(plan: RunPlan, writer: ResultsWriter, say: Callable[[str], None],
             quiet: bool) -> None:
    """Stage 3: the top distinct candidates not yet retrained, as Tune trials."""
    import ray
    from ray import tune

    from raynas.oneshot.retrain import FixedSearcher, RetrainRecorder, retrain_choices
    from raynas.run.progress import RunProgress
    from raynas.run.recorder import tune_callback
    from raynas.run.trial import DataHandle, is_final_report, make_trainable

    s: OneshotSettings = plan.settings  # type: ignore[assignment]
    rows = read_trials(plan.run_dir.path)
    configs, already = retrain_choices(rows, s.retrain_top_k, s.seed, s.objectives)
    if not configs:
        say(f"stage 3/3: retraining done ({already} genome(s))")
        return
    say(f"stage 3/3: retraining the top {len(configs) + already} genome(s) from scratch, "
        f"{s.retrain_epochs} epoch(s) each")
    trial_settings = dataclasses.replace(plan.trial_settings(), epochs=s.retrain_epochs)
    storage = Path(tempfile.mkdtemp(prefix="raynas-tune-"))
    try:
        trainable = tune.with_resources(
            tune.with_parameters(make_trainable(trial_settings),
                                 data=DataHandle(ray.put(plan.data))),
            {"cpu": s.cpus_per_trial, "gpu": s.gpus_per_trial})
        with RunProgress(len(configs) + already, done=already, quiet=quiet) as progress:
            recorder = RetrainRecorder(writer, plan.space, s, progress)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=FixedSearcher(configs), num_samples=-1, reuse_actors=True,
                    max_concurrent_trials=max_concurrent(s, len(configs))),
                run_config=tune.RunConfig(
                    name="raynas-retrain", storage_path=str(storage), verbose=0,
                    callbacks=[tune_callback(recorder)], stop=is_final_report,
                    failure_config=tune.FailureConfig(max_failures=s.max_failures),
                    checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))
            with memoized_trainable_lookup():
                tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _stage_rows(out: Path, stage: str) -> Any:
    rows = read_trials(out)
    if "stage" not in rows:
        return rows.iloc[0:0]
    return rows[rows["stage"] == stage].reset_index(drop=True)


def _json(text: str) -> Any:
    import json

    return json.loads(text)

