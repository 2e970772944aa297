"""Candidates with inherited weights: BatchNorm recalibration and validation accuracy,
in a pool of Ray actors that share the supernet's weights through the object store.

For a genome, :func:`evaluate_path` sets the supernet's path, recalibrates BatchNorm
(:func:`recalibrate_batchnorm`: running statistics reset, then a cumulative average over a
few fixed training batches in train mode, without gradients; SPOS, Guo et al. 2019, sec. 3.3)
and measures accuracy and loss on a fixed validation subset. The recalibration batches and
the subset are the same for every candidate (:func:`make_eval_data`), so candidates are
compared on equal terms and an evaluation is deterministic.

:class:`EvaluatorPool` starts ``num_actors`` :class:`SupernetEvaluator` actors; the weights
and the data are ``ray.put`` once and every actor reads them from the object store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from raynas.core.fixing import count_parameters
from raynas.datasets.sources import DatasetBundle, normalization_constants
from raynas.oneshot.supernet import PathSetter, SupernetFactory
from raynas.train.loop import evaluate

__all__ = ["EvalData", "EvaluatorPool", "SupernetEvaluator", "evaluate_path", "make_eval_data",
           "recalibrate_batchnorm"]


@dataclass
class EvalData:
    """What a candidate's evaluation reads: normalized recalibration batches and a
    validation subset (uint8 images, labels and the normalization)."""

    bn_batches: list[torch.Tensor]
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]


def make_eval_data(bundle: DatasetBundle, *, bn_batches: int = 4, bn_batch_size: int = 128,
                   valid_limit: int | None = 1000, seed: int = 0) -> EvalData:
    """Fixed recalibration batches (a seeded draw from the training split, without
    replacement while it lasts) and the first ``valid_limit`` validation images (all: None)."""
    for name, value in (("bn_batches", bn_batches), ("bn_batch_size", bn_batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if valid_limit is not None and (isinstance(valid_limit, bool) or not isinstance(valid_limit, int)
                                    or valid_limit < 1):
        raise ValueError(f"valid_limit must be a positive int or None, got {valid_limit!r}")
    n = len(bundle.train_y)
    gen = torch.Generator().manual_seed(int(seed))
    needed = bn_batches * bn_batch_size
    order = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-needed // n))])[:needed]
    scale, shift = normalization_constants(bundle.mean, bundle.std, bundle.train_x.dtype)
    batches = [torch.addcmul(-shift, bundle.train_x[order[i:i + bn_batch_size]].to(torch.float32),
                             scale) for i in range(0, needed, bn_batch_size)]
    batches = [b for b in batches if len(b) > 1]  # a batch of one breaks BatchNorm
    keep = len(bundle.valid_y) if valid_limit is None else min(valid_limit, len(bundle.valid_y))
    return EvalData(bn_batches=batches, valid_x=bundle.valid_x[:keep].clone(),
                    valid_y=bundle.valid_y[:keep].clone(), mean=tuple(bundle.mean),
                    std=tuple(bundle.std))


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them as the cumulative
    average over ``batches`` (normalized inputs), in train mode without gradients.

    The model's mode and the BatchNorms' momentum are restored. Returns the number of
    BatchNorm layers with running statistics.
    """
    norms = [m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = model.training
    model.train()
    device = next(iter(model.parameters()), torch.empty(0)).device
    try:
        with torch.no_grad():
            for xb in batches:
                model(xb.to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return len(norms)


def evaluate_path(model: nn.Module, setter: PathSetter, genome: Mapping[str, Any],
                  data: EvalData, seed: int = 0) -> tuple[float, float]:
    """``(accuracy, loss)`` of the supernet ``model`` on ``genome``'s path with inherited
    weights, after BatchNorm recalibration on ``data.bn_batches``. ``seed`` seeds dropout
    during the recalibration."""
    setter.apply(genome)
    torch.manual_seed(seed)
    recalibrate_batchnorm(model, data.bn_batches)
    return evaluate(model, data.valid_x, data.valid_y, mean=data.mean, std=data.std)


class SupernetEvaluator:
    """A Ray actor holding one supernet copy; ``evaluate(genomes)`` scores candidates.

    ``weights`` and ``data`` arrive from the object store (the driver ``ray.put``s them once).
    """

    def __init__(self, factory: SupernetFactory, weights: Mapping[str, torch.Tensor],
                 data: EvalData, threads: int = 1, seed: int = 0):
        torch.set_num_threads(max(1, int(threads)))
        self.model = factory()
        self.model.load_state_dict(weights)
        self.model.eval()
        self.setter = PathSetter(self.model)
        self.data = data
        self.seed = seed
        import ray

        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        self.node_ip = ray.util.get_node_ip_address()

    def evaluate(self, genomes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One result per genome: accuracy, loss, params, seconds, cpu_seconds (this process's
        CPU time: the cost on a machine shared with others), node, node_ip and the UTC
        start and end times; a genome that fails gets ``error`` (text) instead."""
        from datetime import datetime, timezone

        results = []
        for genome in genomes:
            started, cpu_started = time.perf_counter(), time.process_time()
            started_at = datetime.now(timezone.utc)
            result: dict[str, Any] = {"node": self.node, "node_ip": self.node_ip,
                                      "started_at": started_at}
            try:
                accuracy, loss = evaluate_path(self.model, self.setter, genome, self.data,
                                               self.seed)
                result.update(accuracy=accuracy, loss=loss,
                              params=count_parameters(self.model, genome))
                if not np.isfinite(loss):
                    result["error"] = f"the inherited-weight loss is {loss}"
            except Exception as err:  # noqa: BLE001 - one bad candidate is a failed row
                result["error"] = f"{type(err).__name__}: {err}"
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result["finished_at"] = datetime.now(timezone.utc)
            results.append(result)
        return results


class EvaluatorPool:
    """``num_actors`` :class:`SupernetEvaluator` actors over one copy of the weights in the
    object store, fed through ``ray.util.ActorPool``; results come back in submission order."""

    def __init__(self, factory: SupernetFactory, weights: Mapping[str, torch.Tensor],
                 data: EvalData, num_actors: int = 2, cpus_per_actor: float = 1.0,
                 gpus_per_actor: float = 0.0, seed: int = 0):
        import ray
        from ray.util import ActorPool

        if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
            raise ValueError(f"num_actors must be a positive int, got {num_actors!r}")
        self.weights_ref = ray.put(dict(weights))
        self.data_ref = ray.put(data)
        actor_class = ray.remote(num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)(SupernetEvaluator)
        threads = max(1, int(cpus_per_actor))
        self.actors = [actor_class.remote(factory, self.weights_ref, self.data_ref, threads, seed)
                       for _ in range(num_actors)]
        self._pool = ActorPool(self.actors)

    def submit(self, genomes: Sequence[Mapping[str, Any]]) -> None:
        """Queue a batch of genomes for the next idle actor."""
        self._pool.submit(lambda actor, batch: actor.evaluate.remote(batch), list(genomes))

    def has_next(self) -> bool:
        return self._pool.has_next()

    def next(self) -> list[dict[str, Any]]:
        """The results of the oldest submitted batch (blocks until it is done)."""
        return self._pool.get_next()

    def evaluate(self, genomes: Sequence[Mapping[str, Any]], batch: int = 8) -> list[dict[str, Any]]:
        """Evaluate ``genomes`` over the pool; results in the genomes' order."""
        genomes = list(genomes)
        for start in range(0, len(genomes), batch):
            self.submit(genomes[start:start + batch])
        results: list[dict[str, Any]] = []
        while self.has_next():
            results.extend(self.next())
        return results

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    def __enter__(self) -> "EvaluatorPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
