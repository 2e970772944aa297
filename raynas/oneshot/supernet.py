"""The weight-sharing supernet of Single Path One-Shot (Guo et al., ECCV 2020, arXiv 2019).

The supernet is the user's model with its mutables unfixed: every candidate keeps its
weights, and one *path* (a genome) runs at a time. This module holds what the training
(:mod:`.train_supernet`) and the evaluation (:mod:`.evaluate`) share:

* :func:`check_weight_sharing`: only LayerChoice and InputChoice decisions share weights;
* :func:`sample_path`: the path of a training step, uniform over the space and a pure function
  of ``(seed, step)``, so every data-parallel worker picks the same path without talking;
* :class:`PathSetter`: sets the supernet's current path fast (keys bound once);
* the checkpoint file a supernet training writes (:func:`save_checkpoint`, :func:`load_state`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn

from raynas.core.mutables import bind_keys, decision_indices
from raynas.core.space import INPUT, LAYER, Genome, SearchSpace

SupernetFactory = Callable[[], nn.Module]

#: The weight file inside a supernet checkpoint folder, and its metadata beside it.
WEIGHTS_FILE = "supernet.pt"
META_FILE = "supernet.json"
SHARED_KINDS = (LAYER, INPUT)


def check_weight_sharing(space: SearchSpace) -> None:
    """``ValueError`` unless every decision of ``space`` is a LayerChoice or an InputChoice.

    A value choice (a width, a kernel size) changes a tensor's shape, which one set of shared
    weights cannot hold: one-shot search does not support it (use ``raynas evolve``).
    """
    unsupported = [(d.key, d.kind) for d in space.dimensions if d.kind not in SHARED_KINDS]
    if unsupported:
        listed = ", ".join(f"{key!r} ({kind})" for key, kind in unsupported)
        raise ValueError(
            f"one-shot search shares weights across LayerChoice and InputChoice decisions only; "
            f"this space has other decisions: {listed}; weight sharing across widths or other "
            f"values is not supported: search this space with `raynas evolve`, or make those "
            f"decisions LayerChoices over ready-built modules")
    if not space.dimensions:
        raise ValueError("one-shot search needs a space with at least one LayerChoice or "
                         "InputChoice; this model has none")


def sample_path(space: SearchSpace, seed: int, step: int) -> Genome:
    """The path trained at global ``step``: a genome drawn uniformly from ``space`` by a
    generator seeded with ``(seed, step)`` (the same on every worker, in every process)."""
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be non-negative ints, got seed={seed}, step={step}")
    return space.sample(np.random.default_rng([int(seed), int(step)]))


class PathSetter:
    """Sets an unfixed model's current path; the model's keys are bound once (not per call,
    as ``SearchSpace.apply`` does), so a step or an evaluation pays only for the choices."""

    def __init__(self, model: nn.Module, space: SearchSpace | None = None):
        binding = bind_keys(model)
        if space is not None and binding.space != space:
            raise ValueError("the model's search space differs from the space given: "
                             f"model {binding.space}, given {space}")
        self.space = binding.space
        self._mutables = binding.mutables

    def apply(self, genome: Mapping[str, Any], validate: bool = True) -> Genome:
        """Run ``genome`` from now on (validated unless ``validate=False``); returns it."""
        canonical = self.space.validate(genome) if validate else dict(genome)
        for mutable in self._mutables:
            mutable.set_choice(decision_indices(self.space[mutable.key], canonical[mutable.key]))
        return canonical


def save_checkpoint(folder: str | os.PathLike[str], model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, meta: Mapping[str, Any]) -> Path:
    """Write a supernet checkpoint folder: the weights and optimizer state, and ``meta``
    (epoch, step, loss, space, settings) as JSON text beside them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "meta": dict(meta)}, folder / WEIGHTS_FILE)
    (folder / META_FILE).write_text(json.dumps(dict(meta), indent=2, default=str) + "\n")
    return folder


def load_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"model": state_dict, "optimizer": state or None, "meta": {...}}`` of a checkpoint folder."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a supernet checkpoint: {path} is missing")
    return torch.load(path, map_location="cpu", weights_only=False)


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a checkpoint folder (``epoch``, ``step``, ``loss``, ...)."""
    return json.loads((Path(folder) / META_FILE).read_text())


def checkpoints(root: str | os.PathLike[str]) -> list[Path]:
    """Every supernet checkpoint folder under ``root``, oldest first (by global step)."""
    root = Path(root)
    if not root.exists():
        return []
    found = []
    for meta in root.rglob(META_FILE):
        folder = meta.parent
        if (folder / WEIGHTS_FILE).exists():
            try:
                found.append((int(read_meta(folder)["step"]), str(folder), folder))
            except (ValueError, KeyError, json.JSONDecodeError):
                continue  # a folder cut by a kill mid-write is not a checkpoint
    return [folder for _, _, folder in sorted(found)]


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The checkpoint folder under ``root`` with the highest step, or ``None``."""
    found = checkpoints(root)
    return found[-1] if found else None
