"""``raynas evolve``: run a strategy on Ray Tune, one trial per candidate, rows to Parquet.

Flow: :class:`RunPlan` (settings -> space, strategy class, dataset checked to fit, run
folder; all before Ray starts) -> strategy (rebuilt from the Parquet log on ``--resume``)
-> Tune with the :class:`~raynas.run.searcher.StrategySearcher` and warm, reused workers,
in segments of at most :data:`SEGMENT_TRIALS` trials (consecutive ``Tuner.fit`` calls
sharing the strategy, searcher, scheduler and recorder: a flat driver at any ``--trials``)
-> one row per finished trial (completed, stopped by ``--scheduler``, failed or rejected)
streamed by :class:`RunRecorder`. This module only orchestrates: the checks are in :mod:`.plan`, the
resume policy in :mod:`.resume`, Ray's lifecycle in :mod:`.ray_session`, the summary in
:mod:`.summary`.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from raynas.results.objectives import history
from raynas.results.store import ResultsError, ResultsWriter, Status, best_accuracy, read_trials
from raynas.run.errors import RunError
from raynas.run.plan import RunPlan
from raynas.run.ray_session import (check_gpus, max_concurrent, ray_session, set_tune_env,
                                     waiting_reminder)
from raynas.run.recorder import RunRecorder, quiet_progress, tune_callback
from raynas.run.resume import resume_settings
from raynas.run.settings import EvolveSettings
from raynas.run.summary import RunSummary, summarize
from raynas.run.threads import single_thread_blas
from raynas.run.tune_lookup import memoized_trainable_lookup

__all__ = ["RunError", "RunPlan", "RunSummary", "evolve", "resume_settings"]


def evolve(settings: EvolveSettings, resume: bool = False, quiet: bool = False,
           segment_trials: int | None = None) -> RunSummary:
    """Run (or with ``resume``, continue) a search; returns counts and the best row.
    ``segment_trials``: Tune trials per ``Tuner.fit`` (default :data:`SEGMENT_TRIALS`)."""
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
        with single_thread_blas():  # the strategy's replay and the search (see .threads)
            if len(rows):
                strategy.replay(list(history(rows, plan.settings.objectives)))
            plan.run_dir.write_info(plan.run_info())
            lineage = None
            if plan.settings.trials > len(rows):
                lineage = _run_tune(plan, strategy, writer, rows, quiet, segment_trials)
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


#: Tune trials per ``Tuner.fit``. Tune keeps every ``Trial`` of a fit; with what the recorder
#: drops (``recorder.lighten``, ``recorder.quiet_progress``) that is still some 15 KB a
#: trial, so a run is a chain of fits of at most this many trials sharing one strategy,
#: searcher, scheduler, recorder and Ray session: the driver's memory stays flat whatever
#: ``--trials`` is. Each fit starts its trial actors anew (seconds) and drains its last
#: trials before the next one starts, hence segments this long.
SEGMENT_TRIALS = 2500


def _run_tune(plan: RunPlan, strategy: Any, writer: ResultsWriter, rows: Any,
              quiet: bool, segment_trials: int | None = None) -> Any:
    """Run the remaining trials on Ray Tune, in segments of ``segment_trials`` (default
    :data:`SEGMENT_TRIALS`) Tune trials; returns the searcher's ``Lineage``."""
    import ray
    from ray import tune

    from raynas.run.progress import RunProgress
    from raynas.run.schedulers import make_scheduler
    from raynas.run.searcher import StrategySearcher
    from raynas.run.trial import DataHandle, make_trainable

    settings = plan.settings
    done = len(rows)
    remaining = settings.trials - done
    with ray_session(settings, plan.source.runtime_env()):
        waiting = check_gpus(settings)  # no GPU and none can come: an error now, not a hang
        storage = Path(tempfile.mkdtemp(prefix="raynas-tune-"))
        try:
            trainable = tune.with_resources(
                tune.with_parameters(make_trainable(plan.trial_settings()),
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
                segments = _Segments(trainable, settings, searcher, make_scheduler(settings),
                                     [tune_callback(recorder), quiet_progress()]
                                     + ([waiting_reminder(waiting)] if waiting else []),
                                     storage, segment_trials or SEGMENT_TRIALS)
                segments.run()
            return searcher.lineage
        finally:
            shutil.rmtree(storage, ignore_errors=True)


class _Segments:
    """The search as consecutive ``Tuner.fit`` calls (see :data:`SEGMENT_TRIALS`).

    A segment ends when its trials are all done (Tune drains a fit before it returns), so a
    scheduler sees every trial's reports to the end; the scheduler object is shared, so its
    rungs keep the earlier segments' figures. A fit that returns with its segment not done,
    or with trials still pending, was interrupted (Ctrl-C): no further segment starts.
    """

    def __init__(self, trainable: Any, settings: EvolveSettings, searcher: Any, scheduler: Any,
                 callbacks: list[Any], storage: Path, size: int):
        self.trainable, self.settings, self.searcher = trainable, settings, searcher
        self.scheduler, self.callbacks, self.storage, self.size = scheduler, callbacks, storage, size
        self.count = 0

    def run(self) -> None:
        """Fit segments until the searcher has made every proposal or a fit was interrupted
        (every finished trial is recorded by then); Ctrl-C's handler is left as it was."""
        first = signal.getsignal(signal.SIGINT)
        try:
            while not self.searcher.finished:
                self.searcher.begin_segment(self.size)
                before = signal.getsignal(signal.SIGINT)
                self.fit_one()
                if (not self.searcher.segment_done or self.searcher.pending
                        or _tune_caught_ctrl_c(before)):
                    break
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, first)

    def fit_one(self) -> None:
        """One ``Tuner.fit`` of at most ``size`` trials; its Tune folder is removed after."""
        from ray import tune

        from raynas.run.trial import is_final_report

        settings, self.count = self.settings, self.count + 1
        name = f"raynas-{self.count}"
        tuner = tune.Tuner(
            self.trainable,
            tune_config=tune.TuneConfig(
                search_alg=self.searcher, scheduler=self.scheduler,
                num_samples=-1, reuse_actors=True,
                max_concurrent_trials=max_concurrent(
                    settings, min(self.size, self.searcher.remaining))),
            run_config=tune.RunConfig(
                name=name, storage_path=str(self.storage), verbose=0,
                callbacks=self.callbacks, stop=is_final_report,
                failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))
        try:
            with memoized_trainable_lookup():
                tuner.fit()
        finally:
            shutil.rmtree(self.storage / name, ignore_errors=True)


def _tune_caught_ctrl_c(before: Any) -> bool:
    """Whether the last fit was ended by Ctrl-C: Tune installs its own SIGINT handler for a
    fit (in the main thread, unless ``TUNE_DISABLE_SIGINT_HANDLER``) and puts back the one it
    replaced (``before``) only when a Ctrl-C comes."""
    if threading.current_thread() is not threading.main_thread() or \
            os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") not in ("", "0"):
        return False
    return signal.getsignal(signal.SIGINT) is before
