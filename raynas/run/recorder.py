"""Turning finished trials into Parquet rows: the run's recorder and its Tune callbacks.

The recorder lives in the driver process; Tune pickles its callbacks and search algorithm,
so the callback keeps the recorder out of its pickled state.

Tune keeps every ``Trial`` of a fit. Once a trial's row is recorded, the callback drops the
bulk of what Tune holds for it (:func:`lighten`: its last result, per-metric analysis,
cached JSON state), and :func:`quiet_progress` stands in for Tune's own trial-progress
callback, which would keep every trial and its printed result; what remains per trial is
bounded by the driver's segments (``raynas.run.driver.SEGMENT_TRIALS``).
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any

from raynas.results.store import ResultsWriter, Status, make_row
from raynas.run.settings import EvolveSettings
from raynas.core.space import SearchSpace


class RunRecorder:
    """Turns finished Tune trials (and rejected genomes) into Parquet rows and progress."""

    def __init__(self, writer: ResultsWriter, space: SearchSpace, settings: EvolveSettings,
                 progress: Any):
        self.writer = writer
        self.space = space
        self.settings = settings
        self.progress = progress
        self.recorded: set[str] = set()  # the current fit's recorded trial ids

    def row(self, trial_id: str, genome: dict[str, Any], **values: Any) -> dict[str, Any]:
        return make_row(self.space.keys, genome, trial_id=trial_id, strategy=self.settings.strategy,
                        seed=self.settings.seed, **values)

    def record(self, row: dict[str, Any], was_running: bool = True) -> None:
        if row["trial_id"] in self.recorded:
            return
        self.recorded.add(row["trial_id"])
        self.writer.add(row)
        self.progress.finished(row, was_running=was_running)

    def rejected(self, genome: dict[str, Any], order: int, parent: str | None, reason: str,
                 params: int | None) -> None:
        now = datetime.now().astimezone()
        self.record(self.row(f"rejected_{order:05d}_{uuid.uuid4().hex[:6]}", genome, order=order,
                             status=Status.REJECTED, parent_trial_id=parent, params=params, error=reason,
                             started_at=now, finished_at=now), was_running=False)

    def trial_finished(self, trial: Any, error_text: str | None = None) -> None:
        """The row of a trial Tune ended: its final report (completed or failed), or, for a
        trial a scheduler stopped between epochs, its last epoch's report (stopped)."""
        config, result = trial.config, dict(trial.last_result or {})
        status = trial_status(result, error_text)
        if status == Status.FAILED and error_text is None and not result.get("final"):
            error_text = "the trial ended without a final report"
        trained = status in (Status.COMPLETED, Status.STOPPED)
        finished = result.get("finished_at") or datetime.now().astimezone().isoformat()
        curve = result.get("accuracy_curve")
        self.record(self.row(
            trial.trial_id, config["genome"], order=config["order"], status=status,
            parent_trial_id=config.get("parent_trial_id"),
            accuracy=_number(result.get("accuracy")) if trained else None,
            loss=_number(result.get("loss")) if trained else None,
            accuracy_curve=json.dumps([float(v) for v in curve]) if curve else None,
            params=result.get("params"), flops=result.get("flops"),
            latency_ms=_number(result.get("latency_ms")),
            latency_batch_ms=_number(result.get("latency_batch_ms")), epochs=result.get("epochs"),
            train_seconds=result.get("train_seconds"),
            samples_per_second=result.get("samples_per_second"), node=result.get("node"),
            node_ip=result.get("node_ip"), gpu_ids=result.get("gpu_ids"),
            started_at=_time(result.get("started_at") or finished), finished_at=_time(finished),
            error=error_text or result.get("error")))


def trial_status(result: dict[str, Any], error_text: str | None = None) -> Status:
    """A finished trial's status from its last report: the final report's own status; a
    per-epoch report (``status`` running: a scheduler stopped the trial there) is
    ``stopped``; an error, or no report, is ``failed``."""
    status = result.get("status")
    if error_text is not None or status is None:
        return Status.FAILED
    if status == "running":
        return Status.STOPPED if result.get("epochs") else Status.FAILED
    return Status(status)


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


#: What :func:`lighten` keeps of a finished trial's last result (what Tune's own end of a
#: fit reads: the ids and the searcher's metric).
KEPT_RESULT_KEYS = ("trial_id", "training_iteration", "done", "accuracy")


def lighten(trial: Any) -> None:
    """Drop the bulk of Tune's per-trial state of a finished, recorded ``trial``: its last
    result but for :data:`KEPT_RESULT_KEYS`, its metric analysis and its cached JSON."""
    meta = getattr(trial, "run_metadata", None)
    if meta is None:
        return
    last = meta.last_result or {}
    meta.last_result = {key: last[key] for key in KEPT_RESULT_KEYS if key in last}
    meta.metric_analysis = {}
    meta.metric_n_steps = {}
    meta.invalidate_cache()
    if hasattr(trial, "_state_json"):
        trial._state_json = None


def quiet_progress() -> Any:
    """A Tune trial-progress callback that prints and keeps nothing. Passed among a fit's
    callbacks, it stands in for the one Tune would add (which keeps every finished trial and
    prints their results); the run's progress is :class:`~raynas.run.progress.RunProgress`."""
    from ray.tune.progress_reporter import TrialProgressCallback

    class QuietProgress(TrialProgressCallback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            pass

        def on_trial_error(self, iteration, trials, trial, **info):
            pass

        def on_trial_complete(self, iteration, trials, trial, **info):
            pass

    return QuietProgress()


def tune_callback(recorder: RunRecorder) -> Any:
    """A Tune callback that forwards trial starts and ends to ``recorder``."""
    from ray.tune import Callback

    class RecorderCallback(Callback):
        """Forwards Tune's trial events to the run's recorder (driver process only)."""

        def __init__(self) -> None:
            self.recorder: RunRecorder | None = None

        def on_step_end(self, iteration, trials, **info):
            self.recorder.writer.flush_due()

        def on_trial_start(self, iteration, trials, trial, **info):
            self.recorder.progress.started()

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.recorder.trial_finished(trial)
            lighten(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            error = trial.get_error()
            text = f"trial lost after {trial.num_failures} attempt(s): {error}" if error else \
                "trial lost (worker or node died)"
            self.recorder.trial_finished(trial, error_text=text[:2000])
            lighten(trial)

        def on_experiment_end(self, trials, **info):
            self.recorder.recorded.clear()  # a fit's trial ids are never seen again

        def __getstate__(self):  # Tune pickles its callbacks; the recorder stays behind
            return {"recorder": None}

    callback = RecorderCallback()
    callback.recorder = recorder
    return callback
