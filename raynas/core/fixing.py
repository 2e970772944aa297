"""Fixing a model to one architecture: ``fix(model, genome)`` returns a plain ``nn.Module``.

``model`` is an instance (LayerChoices and InputChoices only) or a class / zero-argument
factory, which value choices (``ValueChoice``, ``Repeat``) need: it is built with the genome's
values, then fixed.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence, Union

import torch
import torch.nn as nn

from raynas.core.mutables import (InputChoice, LayerChoice, Mutable, bind_keys, decision_indices,
                                  reduce_tensors, select_inputs)
from raynas.core.values import Repeat, build, check_instance, record

ModelOrFactory = Union[nn.Module, Callable[[], nn.Module]]


class FixedInputChoice(nn.Module):
    """An InputChoice fixed to a selection: same forward contract, no decision left.

    Keeps NNI v1's ``InputChoice`` attributes (``n_candidates``, ``n_chosen``,
    ``choose_from``, ``reduction``, ``return_mask``, ``key``), which model code may read in
    its forward (NNI's TextNAS reads ``n_candidates``); ``chosen`` holds the chosen indices.
    """

    def __init__(self, names: Sequence[str], chosen: Sequence[int], reduction: str,
                 return_mask: bool, key: str, n_chosen: int | None = None,
                 choose_from: Sequence[str] | None = None):
        super().__init__()
        self.names = list(names)
        self.choose_from = list(choose_from) if choose_from is not None else list(self.names)
        self.n_candidates = len(self.names)
        self.n_chosen = n_chosen
        self.chosen = sorted(int(i) for i in chosen)
        self.reduction = reduction
        self.return_mask = return_mask
        self.key = key

    def forward(self, optional_inputs: Any) -> Any:
        return select_inputs(optional_inputs, self.choose_from, self.chosen, self.reduction,
                             self.return_mask, self.key)

    def extra_repr(self) -> str:
        return f"key={self.key!r}, chosen={[self.names[i] for i in self.chosen]}"


class FixedLayerChoice(nn.Module):
    """A LayerChoice that NNI v1's fixed model keeps rather than replaces: one with
    ``return_mask=True`` (its forward returns ``(output, mask)``) or one whose decision is
    empty (an NNI DARTS export's ``[]``: an edge that an InputChoice drops).

    The chosen candidate stays registered under its own name, so parameter names match
    NNI's fixed model (``blocks.1.conv.5.weight``); the others are gone. With nothing
    chosen it holds no parameters and returns ``None`` (``[]`` for ``reduction="none"``),
    as NNI's does, so that a cell that calls every edge and drops the ``None`` ones runs.
    """

    def __init__(self, names: Sequence[str], chosen: Sequence[int],
                 ops: Sequence[nn.Module], reduction: str, return_mask: bool, key: str):
        super().__init__()
        self.names = list(names)
        self.chosen = [int(i) for i in chosen]
        self.reduction = reduction
        self.return_mask = return_mask
        self.key = key
        for index, op in zip(self.chosen, ops):
            self.add_module(self.names[index], op)

    def __len__(self) -> int:
        return len(self.names)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        outputs = [self._modules[self.names[i]](*args, **kwargs) for i in self.chosen]
        out = outputs[0] if len(outputs) == 1 else reduce_tensors(outputs, self.reduction)
        if not self.return_mask:
            return out
        device = outputs[0].device if outputs and isinstance(outputs[0], torch.Tensor) else None
        mask = torch.zeros(len(self.names), dtype=torch.bool, device=device)
        mask[self.chosen] = True
        return out, mask

    def extra_repr(self) -> str:
        return f"key={self.key!r}, chosen={[self.names[i] for i in self.chosen]}"




def _replacement(mutable: Mutable, indices: list[int],
                 ops: Sequence[nn.Module] | None = None) -> nn.Module:
    """What replaces ``mutable`` fixed to ``indices``; ``ops``: the chosen candidates (a
    LayerChoice) or the kept blocks (a Repeat) to use (default: the mutable's own)."""
    if isinstance(mutable, Repeat):
        if ops is None:
            ops = _kept_blocks(mutable, indices)
        return nn.Sequential(*ops)
    if isinstance(mutable, LayerChoice):
        if ops is None:
            ops = [mutable.choices[i] for i in indices]
        if len(indices) == 1 and not mutable.return_mask:
            return ops[0]  # NNI v1: the candidate replaces the choice
        return FixedLayerChoice(mutable.names, indices, ops, mutable.reduction,
                                mutable.return_mask, mutable.key)
    if not isinstance(mutable, InputChoice):
        raise TypeError(f"cannot fix a {type(mutable).__name__}: expected a LayerChoice or "
                        f"InputChoice")
    return FixedInputChoice(mutable.names, indices, mutable.reduction, mutable.return_mask,
                            mutable.key, n_chosen=mutable.n_chosen, choose_from=mutable.choose_from)


def _kept_blocks(repeat: Repeat, indices: list[int]) -> list[nn.Module]:
    """The blocks a Repeat fixed to the depth ``indices[0]`` keeps: its first ``depth``."""
    return repeat.blocks[:repeat.counts[indices[0]]]


def _kept_modules(model: nn.Module, chosen: Mapping[int, list[int]]) -> set[int]:
    """Ids of the modules the fixed model still holds: all but the unchosen candidates (and
    the blocks of a Repeat beyond its depth)."""
    kept: set[int] = set()
    stack = [model]
    while stack:
        module = stack.pop()
        if id(module) in kept:
            continue
        kept.add(id(module))
        if isinstance(module, LayerChoice):
            stack.extend(module.choices[i] for i in chosen[id(module)])
        elif isinstance(module, Repeat):
            stack.extend(_kept_blocks(module, chosen[id(module)]))
        else:
            stack.extend(child for child in module._modules.values() if child is not None)
    return kept


def _fixed_copy(model: nn.Module, mutables: Sequence[Mutable],
                chosen: Mapping[int, list[int]]) -> nn.Module:
    """The fixed model as a deep copy that substitutes each kept mutable by its
    replacement, so that neither the unchosen candidates nor the mutables are copied."""
    kept = _kept_modules(model, chosen)
    memo: dict[int, Any] = {}
    # Deepest first: a chosen candidate's copy already holds its inner replacements.
    for mutable in reversed(mutables):
        if id(mutable) in memo or id(mutable) not in kept:
            continue
        indices = chosen[id(mutable)]
        ops = None
        if isinstance(mutable, LayerChoice):
            ops = [copy.deepcopy(mutable.choices[i], memo) for i in indices]
        elif isinstance(mutable, Repeat):
            ops = [copy.deepcopy(block, memo) for block in _kept_blocks(mutable, indices)]
        memo[id(mutable)] = _replacement(mutable, indices, ops)
    return copy.deepcopy(model, memo)


def fix(model: ModelOrFactory, genome: Mapping[str, Any], inplace: bool = False) -> nn.Module:
    """A plain ``nn.Module`` with every mutable replaced by its decision in ``genome``.

    Each LayerChoice becomes its chosen candidate (the others are dropped, so the parameter
    count equals the hand-written model's), except one with ``return_mask=True`` or an
    empty decision, which becomes a :class:`FixedLayerChoice` holding the chosen candidate
    under its own name (as NNI v1's fixed model); each InputChoice a
    :class:`FixedInputChoice`; each Repeat an ``nn.Sequential`` of its first ``depth``
    blocks. Parameter names equal NNI's fixed model's, so weights load strictly both ways.
    The chosen weights are the supernet's: copied unless ``inplace`` (only what the fixed
    model keeps is copied). ``genome`` is validated first (NNI v1 exports, counter names
    included, are accepted): a missing key, an unknown key or an invalid decision raises
    ``ValueError`` naming the key and the valid choices.

    ``model`` may be a class or zero-argument factory (needed for value choices): the model
    is built with the genome's values, then fixed (``inplace`` does not apply). Its
    weights are those of ``factory()`` built right after the call's RNG state.
    """
    if not isinstance(model, nn.Module):
        return _fix_factory(model, genome)
    check_instance(model)
    binding = bind_keys(model)
    canonical = binding.space.validate(genome)
    return _fix_bound(model, binding, canonical, inplace)


def _fix_factory(factory: Callable[[], nn.Module], genome: Mapping[str, Any]) -> nn.Module:
    rng = torch.random.get_rng_state()
    space, recorded = record(factory)
    canonical = space.validate(genome)
    if not recorded.has_values:  # the recorded supernet is the model: fix it in place
        return _fix_bound(recorded.model, recorded.binding, canonical, inplace=True)
    torch.random.set_rng_state(rng)  # the weights of one build from the caller's RNG state
    built = build(factory, canonical)
    if built.binding.space.keys and not set(built.binding.space.keys) <= set(space.keys):
        raise ValueError(f"{getattr(factory, '__qualname__', factory)}() built other mutables "
                         f"with the genome's values than when recorded "
                         f"({sorted(set(built.binding.space.keys) - set(space.keys))}): its "
                         f"constructor must make the same decisions every time")
    return _fix_bound(built.model, built.binding, canonical, inplace=True)


def _fix_bound(model: nn.Module, binding: Any, canonical: Mapping[str, Any],
               inplace: bool) -> nn.Module:
    chosen = {id(m): decision_indices(binding.space[m.key], canonical[m.key])
              for m in binding.mutables}
    if not inplace:
        return _fixed_copy(model, binding.mutables, chosen)
    replacements: dict[int, nn.Module] = {}
    # Deepest first: replacing an outer LayerChoice moves the paths of the mutables inside it.
    for path, mutable in reversed(list(zip(binding.paths, binding.mutables))):
        if id(mutable) not in replacements:
            replacements[id(mutable)] = _replacement(mutable, chosen[id(mutable)])
        new = replacements[id(mutable)]
        if not path:
            return new
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, name, new)
    return model


def count_parameters(model: ModelOrFactory, genome: Mapping[str, Any] | None = None) -> int:
    """Number of parameters of ``model``, or of ``fix(model, genome)`` (without building it
    for an instance; a class or factory is built, leaving the global RNG as it was).

    Parameters shared between modules count once.
    """
    if not isinstance(model, nn.Module):
        if genome is None:
            raise ValueError("count_parameters of a class or factory needs a genome: "
                             "count_parameters(Net, genome)")
        with torch.random.fork_rng(devices=[]):
            return count_parameters(fix(model, genome))
    if genome is None:
        return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    check_instance(model)
    binding = bind_keys(model)
    canonical = binding.space.validate(genome)
    seen: dict[int, int] = {}

    def visit(module: nn.Module) -> None:
        for param in module._parameters.values():
            if param is not None:
                seen[id(param)] = param.numel()
        if isinstance(module, LayerChoice):
            dim = binding.space[module.key]
            children = [module.choices[i] for i in decision_indices(dim, canonical[module.key])]
        elif isinstance(module, Repeat):
            dim = binding.space[module.key]
            children = _kept_blocks(module, decision_indices(dim, canonical[module.key]))
        else:
            children = list(module.children())
        for child in children:
            visit(child)

    visit(model)
    return sum(seen.values())
