"""The Tune trainable: build the space's model, fix it to the trial's genome, train it.

Before training, the fixed model's inference latency is measured on the trial's device
(:func:`measure_latency`, a few repeats: latency does not depend on the weights); a model
over ``--max-latency-ms`` ends as ``status="rejected"`` without training.

It runs in warm workers: the dataset is fetched from Ray's object store once per worker
process (cached by object id) and the model factory is resolved once per process. Any
exception of the candidate (a shape mismatch, a NaN loss, CUDA out of memory) becomes a
final report with ``status="failed"`` and the error text, so the search goes on.

Reports: one per epoch (Tune's ``training_iteration`` is the epoch; an early-stopping
scheduler reads ``accuracy`` there), the last epoch's being the final one (``final: True``,
status completed). Every report carries ``epochs`` (trained so far) and ``accuracy_curve``
(the validation accuracy after each epoch), so a trial the scheduler stops ends with a
complete last report. A failed trial's final report has ``accuracy`` NaN, which the
schedulers skip. The run's Tune ``stop`` condition is :func:`is_final_report`, so Tune ends
a trial at that report.
"""

from __future__ import annotations

import functools
import math
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import ray
import torch
from ray import tune

from raynas.datasets.sources import DatasetBundle
from raynas.core.fixing import count_parameters, fix
from raynas.core.flops import count_flops
from raynas.run.settings import trial_threads
from raynas.run.space_source import SpaceSource
from raynas.core.latency import measure_latency
from raynas.core.measure import check_forward
from raynas.results.store import Status
from raynas.train.loop import limit_gpu_memory, seed_torch, select_device, train_model


@dataclass(frozen=True)
class TrialSettings:
    """Everything a trial needs that is the same for the whole run."""

    space: SpaceSource
    input_shape: tuple[int, int, int]
    num_classes: int
    epochs: int
    batch_size: int
    lr: float
    cpus_per_trial: float
    gpus_per_trial: float
    max_batches_per_epoch: int | None = None
    max_latency_ms: float | None = None


#: Latency measuring in a trial: cheap (a few passes), median of the repeats.
LATENCY_WARMUP = 3
LATENCY_REPEATS = 7


def over_latency_budget(latency_ms: float, max_latency_ms: float | None) -> str | None:
    """The rejection text of a model slower than ``max_latency_ms``, else ``None``."""
    if max_latency_ms is None or latency_ms <= max_latency_ms:
        return None
    return (f"rejected before training: latency {latency_ms:.3f} ms at batch 1 > "
            f"--max-latency-ms {max_latency_ms:g}")


class DataHandle:
    """An object-store reference to the run's dataset, fetched once per worker process."""

    def __init__(self, ref: "ray.ObjectRef"):
        self.refs = [ref]  # nested in a list: Tune's with_parameters must not resolve it

    def get(self) -> DatasetBundle:
        key = self.refs[0].hex()
        if key not in _DATA_CACHE:
            _DATA_CACHE.clear()  # one run's data at a time per worker
            _DATA_CACHE[key] = ray.get(self.refs[0])
        return _DATA_CACHE[key]


_DATA_CACHE: dict[str, DatasetBundle] = {}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def error_text(err: BaseException, limit: int = 2000) -> str:
    """``Type: message`` and the innermost frames, at most ``limit`` characters."""
    frames = traceback.format_tb(err.__traceback__)[-3:]
    text = f"{type(err).__name__}: {err}\n" + "".join(frames)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def _node() -> dict[str, str]:
    """This worker process's node (looked up once: a worker never moves)."""
    return {"node": ray.get_runtime_context().get_node_id(),
            "node_ip": ray.util.get_node_ip_address()}


def _placement() -> dict[str, Any]:
    return {**_node(), "gpu_ids": ",".join(str(i) for i in ray.get_gpu_ids()) or None}


def is_final_report(trial_id: str, result: dict[str, Any]) -> bool:
    """Tune's ``stop`` condition of a run: a trial is done at its final report. Without it
    Tune asks the trainable for one more result, a round trip to the worker on every trial,
    to learn that the function has returned."""
    return bool(result.get("final"))


def make_trainable(settings: TrialSettings) -> Callable[[dict[str, Any], DataHandle], None]:
    """The run's function trainable, :func:`run_trial` with ``settings`` built in: they travel
    once with the trainable to each worker, not from the object store for every trial as a
    ``tune.with_parameters`` argument would (the dataset does, through its cached handle)."""

    def raynas_trial(config: dict[str, Any], data: DataHandle) -> None:
        run_trial(config, settings, data)

    return raynas_trial


def run_trial(config: dict[str, Any], settings: TrialSettings, data: DataHandle) -> None:
    """Tune function trainable: reports per-epoch figures, then one final report."""
    started = now_utc()
    torch.set_num_threads(trial_threads(settings.cpus_per_trial))
    base = {"order": config["order"], "started_at": started.isoformat(), **_placement()}
    params = flops = None
    latency: dict[str, float] = {}
    curve: list[float] = []
    try:
        bundle = data.get()
        device = select_device(prefer_gpu=settings.gpus_per_trial > 0)
        seed_torch(int(config.get("trial_seed", 0)), device)
        model = fix(settings.space.factory(), config["genome"])
        params = count_parameters(model)
        if device.type == "cuda" and 0 < settings.gpus_per_trial < 1:
            limit_gpu_memory(settings.gpus_per_trial, device)
        check_forward(model, settings.input_shape, settings.num_classes)
        flops = count_flops(model, settings.input_shape)
        latency = measure_latency(model, settings.input_shape, batch_size=settings.batch_size,
                                  warmup=LATENCY_WARMUP, repeats=LATENCY_REPEATS,
                                  device=device).to_row()
        rejection = over_latency_budget(latency["latency_ms"], settings.max_latency_ms)
        if rejection is not None:
            tune.report({**base, "status": Status.REJECTED.value, "accuracy": math.nan, "loss": None,
                         "epochs": 0, "train_seconds": 0.0, "error": rejection, "final": True,
                         "params": params, "flops": flops, **latency,
                         "finished_at": now_utc().isoformat()})
            return

        def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
            curve.append(float(metrics["accuracy"]))
            if epoch < settings.epochs:  # the last epoch's report is the final one
                tune.report({**base, "status": "running", "final": False, "params": params,
                             "flops": flops, "epoch": epoch, "epochs": epoch,
                             "accuracy": metrics["accuracy"], "loss": metrics["loss"],
                             "accuracy_curve": list(curve), **latency,
                             "train_seconds": (now_utc() - started).total_seconds()})

        result = train_model(model, bundle, settings.epochs, batch_size=settings.batch_size,
                             lr=settings.lr, device=device, seed=int(config.get("trial_seed", 0)),
                             on_epoch=on_epoch, max_batches_per_epoch=settings.max_batches_per_epoch)
        final = {"status": Status.COMPLETED.value, "accuracy": result.accuracy, "loss": result.loss,
                 "epochs": result.epochs, "train_seconds": result.train_seconds,
                 "samples_per_second": result.samples_per_second, "error": None}
    except Exception as err:  # noqa: BLE001 - a failing candidate is a recorded result
        final = {"status": Status.FAILED.value, "accuracy": math.nan, "loss": None,
                 "epochs": None,
                 "train_seconds": (now_utc() - started).total_seconds(), "error": error_text(err)}
    tune.report({**base, **final, "final": True, "params": params, "flops": flops,
                 "latency_ms": latency.get("latency_ms"),
                 "latency_batch_ms": latency.get("latency_batch_ms"),
                 "accuracy_curve": curve,
                 "finished_at": now_utc().isoformat()})
