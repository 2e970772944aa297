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
                             select_inputs)
from raynas.core.values import Repeat, build, check_instance, record

ModelOrFactory = Union[nn.Module, Callable[[], nn.Module]]


class FixedInputChoice(nn.Module):
    """An InputChoice fixed to a selection: same forward contract, no decision left."""

    def __init__(self, names: Sequence[str], chosen: Sequence[int], reduction: str,
                 return_mask: bool, key: str):
        super().__init__()
        self.names = list(names)
        self.chosen = sorted(int(i) for i in chosen)
        self.reduction = reduction
        self.return_mask = return_mask
        self.key = key

    def forward(self, optional_inputs: Any) -> Any:
        return select_inputs(optional_inputs, self.names, self.chosen, self.reduction,
                             self.return_mask, self.key)

    def extra_repr(self) -> str:
        return f"key={self.key!r}, chosen={[self.names[i] for i in self.chosen]}"


class MaskedLayer(nn.Module):
    """A LayerChoice with ``return_mask=True`` fixed to one candidate: ``(output, mask)``."""

    def __init__(self, op: nn.Module, n_candidates: int, index: int):
        super().__init__()
        self.op = op
        self.n_candidates = n_candidates
        self.index = index

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        out = self.op(*args, **kwargs)
        device = out.device if isinstance(out, torch.Tensor) else None
        mask = torch.zeros(self.n_candidates, dtype=torch.bool, device=device)
        mask[self.index] = True
        return out, mask


def _replacement(mutable: Mutable, indices: list[int]) -> nn.Module:
    if isinstance(mutable, Repeat):
        return nn.Sequential(*mutable.blocks[:mutable.counts[indices[0]]])
    if isinstance(mutable, LayerChoice):
        op = mutable.choices[indices[0]]
        return MaskedLayer(op, len(mutable), indices[0]) if mutable.return_mask else op
    assert isinstance(mutable, InputChoice)
    return FixedInputChoice(mutable.names, indices, mutable.reduction, mutable.return_mask,
                            mutable.key or "")


def fix(model: ModelOrFactory, genome: Mapping[str, Any], inplace: bool = False) -> nn.Module:
    """A plain ``nn.Module`` with every mutable replaced by its decision in ``genome``.

    Each LayerChoice becomes its chosen candidate (the others are dropped, so the parameter
    count equals the hand-written model's); each InputChoice a :class:`FixedInputChoice`;
    each Repeat an ``nn.Sequential`` of its first ``depth`` blocks. The chosen weights are
    the supernet's (copied unless ``inplace``). ``genome`` is validated first: a missing key,
    an unknown key or an invalid decision raises ``ValueError`` naming the key and the valid
    choices.

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
    space = binding.space
    target = model if inplace else copy.deepcopy(model)
    target_binding = bind_keys(target) if not inplace else binding
    # Deepest first: replacing an outer LayerChoice moves the paths of the mutables inside it.
    for mutable, path in reversed(list(zip(target_binding.mutables, target_binding.paths))):
        dim = space[mutable.key]
        new = _replacement(mutable, decision_indices(dim, canonical[mutable.key]))
        if not path:
            return new
        parent_path, _, name = path.rpartition(".")
        parent = target.get_submodule(parent_path) if parent_path else target
        setattr(parent, name, new)
    return target


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
        else:
            children = list(module.children())
        for child in children:
            visit(child)

    visit(model)
    return sum(seen.values())


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass of one sample of ``input_shape`` (C, H, W), as counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
