"""Supernet training on Ray Train: SPOS's single-path uniform sampling, data-parallel.

``train_supernet(factory, bundle, folder, epochs=...)`` trains the unfixed model made by
``factory`` with a ``ray.train.torch.TorchTrainer`` of ``num_workers`` DDP workers (gloo on
CPU, NCCL on GPU with ``use_gpu=True``). Every step trains one path, :func:`sample_path` of
``(seed, global step)``: the same path on every worker with no communication. The candidates
a path leaves out get no gradient that step, so DDP runs with ``find_unused_parameters``.

Data: each epoch shuffles the training split with a generator seeded by ``(seed, epoch)``;
a global batch of ``batch_size * num_workers`` images is cut into one slice per worker.

Checkpoints: written by rank 0 as a :class:`ray.train.Checkpoint` under ``folder/train-NN/``
(one Ray Train run per call; Ray keeps its latest ``keep_checkpoints``), at the end of an
epoch once ``checkpoint_every_s`` seconds have passed since the last one, and after the last
epoch (``checkpoint_every_s=0``: after every epoch). On small data an epoch takes a fraction
of a second while a checkpoint and its report cost about a second, so a checkpoint per epoch
would cost more than the training. A call on a folder that holds one resumes from the
latest (weights, optimizer, epoch and step), so an interrupted training continues where it
stopped, losing at most ``checkpoint_every_s`` of work, and reaches the same weights as an
uninterrupted one. A training loss that turns NaN or infinite stops the training with
:class:`SupernetDiverged`, which names the last good checkpoint (kept: nothing is written
after the divergence).
"""

from __future__ import annotations

import math
import re
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from raynas.core.space import SearchSpace
from raynas.datasets.sources import DatasetBundle, normalization_constants
from raynas.oneshot.supernet import (PathSetter, SupernetFactory, check_weight_sharing,
                                     latest_checkpoint, load_state, read_meta, sample_path,
                                     save_checkpoint)

__all__ = ["SupernetDiverged", "SupernetResult", "train_supernet"]

OPTIMIZERS = ("sgd", "adam")

#: Least seconds between two supernet checkpoints (see the module docstring).
CHECKPOINT_EVERY_S = 30.0


class SupernetDiverged(FloatingPointError):
    """The supernet's training loss became NaN or infinite; the last good checkpoint is kept."""

    def __init__(self, epoch: int, step: int, loss: float, checkpoint: str | None):
        self.epoch, self.step, self.loss, self.checkpoint = epoch, step, loss, checkpoint
        kept = (f"the last good checkpoint is kept: {checkpoint}" if checkpoint
                else "no checkpoint was written before it (it diverged in the first epoch)")
        super().__init__(
            f"supernet training diverged: loss is {loss} at epoch {epoch}, step {step}; {kept}; "
            f"lower the learning rate (a new call on the same folder resumes from that checkpoint)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.epoch, self.step, self.loss, self.checkpoint))


@dataclass
class SupernetResult:
    """A finished supernet training: the latest checkpoint folder and its figures."""

    checkpoint: Path
    epochs: int
    steps: int
    loss: float
    seconds: float
    resumed_from_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The trained supernet's weights (CPU tensors)."""
        return load_state(self.checkpoint)["model"]


def _check_settings(epochs: int, batch_size: int, num_workers: int, lr: float, optimizer: str,
                    seed: int, n_train: int, checkpoint_every_s: float) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("num_workers", num_workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    if not (isinstance(checkpoint_every_s, (int, float)) and checkpoint_every_s >= 0):
        raise ValueError(f"checkpoint_every_s must be >= 0 seconds (0: a checkpoint every "
                         f"epoch), got {checkpoint_every_s!r}")
    if n_train < batch_size * num_workers:
        raise ValueError(
            f"the training split ({n_train} images) is smaller than one global batch "
            f"(batch_size {batch_size} x num_workers {num_workers}); lower batch_size or "
            f"num_workers, or raise --limit")


def train_supernet(factory: SupernetFactory, bundle: DatasetBundle,
                   folder: str | os.PathLike[str], *, epochs: int, batch_size: int = 64,
                   lr: float = 0.05, optimizer: str = "sgd", momentum: float = 0.9,
                   weight_decay: float = 4e-5, seed: int = 0, num_workers: int = 2,
                   use_gpu: bool = False, check_every: int | None = None,
                   keep_checkpoints: int = 2,
                   checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> SupernetResult:
    """Train the supernet of ``factory`` for ``epochs`` epochs (in total, resumed ones
    included) on ``bundle``'s training split; checkpoints go under ``folder``.

    ``batch_size`` is per worker. ``optimizer`` ``sgd`` (momentum, cosine learning-rate decay
    over ``epochs``, as SPOS) or ``adam``. ``check_every``: steps between NaN checks of the
    loss (default 1 on CPU, 20 on GPU). ``checkpoint_every_s``: the least seconds between two
    checkpoints (the last epoch always gets one). Needs a running Ray (``ray.init``); ``num_workers``
    workers of one CPU (and one GPU each with ``use_gpu``).

    Raises ``ValueError`` for a space with decisions other than LayerChoice / InputChoice or
    for bad settings, :class:`SupernetDiverged` for a NaN loss, and Ray Train's error when a
    worker fails.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    space = SearchSpace.from_model(factory)  # a value choice becomes a "value" dimension
    check_weight_sharing(space)
    _check_settings(epochs, batch_size, num_workers, lr, optimizer, seed, len(bundle.train_y),
                    checkpoint_every_s)
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    resume = latest_checkpoint(folder)
    resumed_epoch = 0
    if resume is not None:
        meta = read_meta(resume)
        if meta.get("space") != space.to_dict():
            raise ValueError(f"{folder} holds a supernet checkpoint of another search space "
                             f"({resume}); give an empty folder for this space")
        resumed_epoch = int(meta["epoch"])
        if resumed_epoch >= epochs:
            return SupernetResult(checkpoint=resume, epochs=resumed_epoch, steps=int(meta["step"]),
                                  loss=float(meta["loss"]), seconds=0.0,
                                  resumed_from_epoch=resumed_epoch)
    config = {
        "factory": factory, "bundle": bundle, "space": space.to_dict(), "epochs": epochs,
        "batch_size": batch_size, "lr": float(lr), "optimizer": optimizer,
        "momentum": momentum, "weight_decay": weight_decay, "seed": seed,
        "check_every": check_every if check_every is not None else (20 if use_gpu else 1),
        "resume": str(resume) if resume is not None else None,
        "checkpoint_every_s": float(checkpoint_every_s),
    }
    trainer = TorchTrainer(
        _train_loop_per_worker, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": 1}),
        run_config=RunConfig(storage_path=str(folder), name=_attempt_name(folder),
                             checkpoint_config=CheckpointConfig(num_to_keep=keep_checkpoints),
                             failure_config=FailureConfig(max_failures=0)))
    started = time.perf_counter()
    try:
        result = trainer.fit()
        if getattr(result, "error", None) is not None:
            raise result.error
    except Exception as err:  # a worker's SupernetDiverged arrives wrapped by Ray Train
        diverged = _diverged_in(err)
        if diverged is None:
            raise
        last = latest_checkpoint(folder)
        raise SupernetDiverged(*diverged, str(last) if last else None) from None
    seconds = time.perf_counter() - started
    last = latest_checkpoint(folder)
    if last is None:
        raise RuntimeError(f"supernet training ended without a checkpoint under {folder}")
    meta = read_meta(last)
    return SupernetResult(checkpoint=last, epochs=int(meta["epoch"]), steps=int(meta["step"]),
                          loss=float(meta["loss"]), seconds=seconds,
                          resumed_from_epoch=resumed_epoch, history=list(meta.get("history", [])))


_DIVERGED = re.compile(r"supernet training diverged: loss is (\S+) at epoch (\d+), step (\d+)")


def _diverged_in(err: BaseException) -> tuple[int, int, float] | None:
    """``(epoch, step, loss)`` of a worker's :class:`SupernetDiverged` inside Ray's error."""
    seen: BaseException | None = err
    texts = []
    while seen is not None and len(texts) < 10:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    match = _DIVERGED.search("\n".join(texts))
    if match is None:
        return None
    return int(match.group(2)), int(match.group(3)), float(match.group(1).rstrip(";,"))


def _attempt_name(folder: Path) -> str:
    """Each call is its own Ray Train run under ``folder`` (``train-01``, ``train-02``, ...); the
    resume reads our own latest checkpoint across them, not Ray's run snapshot, so a folder
    whose last checkpoint was cut or removed still resumes from the one before."""
    taken = {p.name for p in folder.glob("train-*")}
    n = 1
    while f"train-{n:02d}" in taken:
        n += 1
    return f"train-{n:02d}"


def path_digest(paths: list[dict[str, Any]], digest: int = 0) -> int:
    """A running CRC-32 of the paths trained, in order (workers compare theirs each epoch)."""
    for path in paths:
        digest = zlib.crc32(SearchSpace.genome_id(path).encode(), digest)
    return digest


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=gen)


def _train_loop_per_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: SPOS steps over its slice of each global batch (see module doc)."""
    import tempfile

    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    space = SearchSpace.from_dict(config["space"])
    bundle: DatasetBundle = config["bundle"]
    seed, epochs, batch_size = config["seed"], config["epochs"], config["batch_size"]

    torch.manual_seed(seed)  # the same initial weights on every worker
    net = config["factory"]()
    setter = PathSetter(net, space)
    model = ray.train.torch.prepare_model(
        net, parallel_strategy_kwargs={"find_unused_parameters": True})
    device = ray.train.torch.get_device()
    if config["optimizer"] == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=config["lr"], momentum=config["momentum"],
                              weight_decay=config["weight_decay"], nesterov=True)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=config["lr"],
                               weight_decay=config["weight_decay"])
    start_epoch, step, history, digest = 0, 0, [], 0
    checkpoint = ray.train.get_checkpoint()
    resume_dir = None
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = load_state(directory)
    elif config["resume"]:
        resume_dir = config["resume"]
        state = load_state(resume_dir)
    else:
        state = None
    if state is not None:
        net.load_state_dict(state["model"])
        if state["optimizer"] is not None:
            opt.load_state_dict(state["optimizer"])
        start_epoch, step = int(state["meta"]["epoch"]), int(state["meta"]["step"])
        history = list(state["meta"].get("history", []))
        digest = int(state["meta"]["path_digest"])

    train_x, train_y = bundle.train_x, bundle.train_y
    scale, shift = normalization_constants(bundle.mean, bundle.std, train_x.dtype, device)
    n = len(train_y)
    global_batch = batch_size * world
    steps_per_epoch = n // global_batch
    total_steps = steps_per_epoch * epochs
    last_checkpoint = time.monotonic()
    for epoch in range(start_epoch + 1, epochs + 1):
        model.train()
        order = _epoch_order(n, seed, epoch)
        epoch_started = time.perf_counter()
        pending: list[torch.Tensor] = []
        loss_sum = 0.0
        for batch in range(steps_per_epoch):
            if config["optimizer"] == "sgd":  # cosine decay over the whole training, per step
                for group in opt.param_groups:
                    group["lr"] = 0.5 * config["lr"] * (1 + math.cos(math.pi * step / total_steps))
            path = sample_path(space, seed, step)
            digest = path_digest([path], digest)
            setter.apply(path, validate=False)
            first = batch * global_batch + rank * batch_size
            idx = order[first:first + batch_size]
            xb = torch.addcmul(-shift, train_x[idx].to(device).to(torch.float32), scale)
            yb = train_y[idx].to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            pending.append(loss.detach())
            if len(pending) >= config["check_every"] or batch == steps_per_epoch - 1:
                losses = torch.stack(pending)
                if world > 1:  # every worker sees the same mean losses, so all stop together
                    dist.all_reduce(losses)
                    losses /= world
                pending = []
                finite = torch.isfinite(losses)
                if not bool(finite.all()):
                    bad = int((~finite).nonzero()[0].item())  # every worker stops here
                    raise SupernetDiverged(epoch, step - len(losses) + bad + 1,
                                           float(losses[bad].item()), None)
                loss_sum += float(losses.sum().item())
        if world > 1:  # the workers trained the same paths, or the training is meaningless
            digests = torch.tensor([digest], dtype=torch.int64, device=device)
            gathered = [torch.zeros_like(digests) for _ in range(world)]
            dist.all_gather(gathered, digests)
            if len({int(d.item()) for d in gathered}) != 1:
                raise RuntimeError(
                    f"supernet workers trained different paths in epoch {epoch} (path digests "
                    f"{[int(d.item()) for d in gathered]}): the space must be the same in every "
                    f"worker process")
        metrics = {"diverged": False, "epoch": epoch, "step": step, "path_digest": digest,
                   "loss": loss_sum / max(1, steps_per_epoch),
                   "epoch_seconds": time.perf_counter() - epoch_started}
        history.append(metrics)
        due = (epoch == epochs
               or time.monotonic() - last_checkpoint >= config["checkpoint_every_s"])
        if world > 1:  # rank 0's clock decides: every worker reports, or none
            flag = torch.tensor([int(due)], dtype=torch.int64, device=device)
            dist.broadcast(flag, src=0)
            due = bool(flag.item())
        if not due:
            continue
        last_checkpoint = time.monotonic()
        meta = {**metrics, "seed": seed, "space": config["space"], "history": history,
                "resumed_from": resume_dir}
        with tempfile.TemporaryDirectory() as tmp:
            if rank == 0:
                save_checkpoint(tmp, net, opt, meta)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
            else:
                ray.train.report(metrics)
