"""``raynas evolve``: run a strategy on Ray Tune, one trial per candidate, rows to Parquet.

Flow: :class:`RunPlan` (settings -> space, strategy class, dataset checked to fit, run
folder; all before Ray starts) -> strategy (rebuilt from the Parquet log on ``--resume``)
-> Tune with the :class:`~raynas.run.searcher.StrategySearcher` and warm, reused workers
-> one row per finished trial (completed, stopped by ``--scheduler``, failed or rejected)
streamed by
:class:`RunRecorder`. This module only orchestrates: the checks are in :mod:`.plan`, the
resume policy in :mod:`.resume`, Ray's lifecycle in :mod:`.ray_session`, the summary in
:mod:`.summary`.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path
from typing import Any

from raynas.results.objectives import history
from raynas.results.store import ResultsError, ResultsWriter, Status, best_accuracy, read_trials
from raynas.run.errors import RunError
from raynas.run.plan import RunPlan
from raynas.run.ray_session import (check_gpus, max_concurrent, ray_session, set_tune_env,
                                     waiting_reminder)
from raynas.run.recorder import RunRecorder, tune_callback
from raynas.run.resume import resume_settings
from raynas.run.settings import EvolveSettings
from raynas.run.summary import RunSummary, summarize

__all__ = ["RunError", "RunPlan", "RunSummary", "evolve", "resume_settings"]


def evolve(settings: EvolveSettings, resume: bool = False, quiet: bool = False) -> RunSummary:
    """Run (or with ``resume``, continue) a search; returns counts and the best row."""
    set_tune_env()
    plan = RunPlan.build(settings, resume)
    strategy = plan.make_strategy()
    out = plan.run_dir.path
    writer = ResultsWriter(out, plan.space.keys, resume=resume)
    try:
        plan.source.keep_copy(out)
        rows = read_trials(out)
        if resume and plan.settings.trials < len(rows):
            raise RunError(f"{out} already holds {len(rows)} trials, more than --trials "
                           f"{plan.settings.trials}; pass a larger --trials to continue it")
        if len(rows):
            strategy.replay(list(history(rows, plan.settings.objectives)))
        plan.run_dir.write_info(plan.run_info())
        lineage = None
        if plan.settings.trials > len(rows):
            lineage = _run_tune(plan, strategy, writer, rows, quiet)
    except BaseException as err:
        lost_write = _lost_write(err)
        try:
            writer.close()  # every finished trial lands in Parquet; the error stays
        except ResultsError:
            pass  # the rows are in the journal; the error below says what failed
        if lost_write is not None:
            raise lost_write from None
        raise
    writer.close()
    summary = summarize(out, plan.settings.trials, plan.settings.objectives)
    if lineage is not None:
        summary.exhausted, summary.reevaluated = lineage.exhausted, lineage.reevaluated
    return summary


def _lost_write(err: BaseException) -> ResultsError | None:
    """The results-write error behind ``err`` (Tune may wrap what its callback raised), or
    an ``OSError`` of a lost write as one; ``None`` for any other error."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, ResultsError):
            return err
        if isinstance(err, OSError) and getattr(err, "filename", None) and err.errno in _WRITE_ERRNOS:
            return ResultsError(f"cannot write {err.filename}: {err.strerror}; the rows recorded "
                                f"before are kept in the run folder")
        err = err.__cause__ or err.__context__
    return None


_WRITE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _known_trials(rows: Any) -> dict[str, str]:
    """``{genome text: trial id}`` of the trials that ran (for parent ids after a resume)."""
    return {genome: trial_id for trial_id, genome, status in
            zip(rows.get("trial_id", []), rows.get("genome", []), rows.get("status", []))
            if status != Status.REJECTED}


def _run_tune(plan: RunPlan, strategy: Any, writer: ResultsWriter, rows: Any,
              quiet: bool) -> Any:
    """Run the remaining trials on Ray Tune; returns the searcher's ``Lineage``."""
    import ray
    from ray import tune

    from raynas.run.progress import RunProgress
    from raynas.run.schedulers import make_scheduler
    from raynas.run.searcher import StrategySearcher
    from raynas.run.trial import DataHandle, run_trial

    settings = plan.settings
    done = len(rows)
    remaining = settings.trials - done
    with ray_session(settings, plan.source.runtime_env()):
        waiting = check_gpus(settings)  # no GPU and none can come: an error now, not a hang
        storage = Path(tempfile.mkdtemp(prefix="raynas-tune-"))
        try:
            trainable = tune.with_resources(
                tune.with_parameters(run_trial, settings=plan.trial_settings(),
                                     data=DataHandle(ray.put(plan.data))),
                {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
            with RunProgress(settings.trials, done=done, best=best_accuracy(rows) if done else None,
                             quiet=quiet) as progress:
                recorder = RunRecorder(writer, plan.space, settings, progress)
                searcher = StrategySearcher(
                    strategy, plan.space, total=remaining,
                    first_order=int(rows["order"].max()) + 1 if done else 1,
                    trial_seed=settings.seed, screen=plan.screen(),
                    on_rejected=recorder.rejected, known_trials=_known_trials(rows),
                    objectives=settings.objectives)
                tuner = tune.Tuner(
                    trainable,
                    tune_config=tune.TuneConfig(
                        search_alg=searcher, scheduler=make_scheduler(settings),
                        num_samples=-1, reuse_actors=True,
                        max_concurrent_trials=max_concurrent(settings, remaining)),
                    run_config=tune.RunConfig(
                        name="raynas", storage_path=str(storage), verbose=0,
                        callbacks=[tune_callback(recorder)]
                        + ([waiting_reminder(waiting)] if waiting else []),
                        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                        checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))
                tuner.fit()
            return searcher.lineage
        finally:
            shutil.rmtree(storage, ignore_errors=True)
