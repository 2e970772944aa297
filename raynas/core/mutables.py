"""Mutables with NNI v1 semantics: ``LayerChoice``, ``InputChoice`` and ``MutableScope``.

Mutables are real torch containers (candidates are registered submodules), so ``.to()``
and ``state_dict()`` behave. An unfixed model (the supernet) runs with each mutable's
current choice (default: the first candidate / all inputs); ``SearchSpace.apply`` sets it.

Keys: a mutable without an explicit key gets its module path in the model (``conv1``,
``cells.0.op``), so the key is the same in every process. A ``MutableScope``'s key
prefixes the keys of the mutables inside it (``cell1/op``). Keys are bound by
:func:`bind_keys` (``SearchSpace.from_model``, ``fix`` and ``SearchSpace.apply`` call it).

Until then ``.key`` is never ``None``: a mutable built without a key carries NNI v1's
counter name (``LayerChoice1``, ``InputChoice2``, ...: one process-wide counter over the
mutables built without a key, in construction order), kept as ``.nni_key`` after binding.
A bound space maps those NNI names to its keys (``SearchSpace.aliases``), numbered from
the model's first such mutable, so that an NNI export keyed by them loads.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence, Union

import torch
import torch.nn as nn

from raynas.core.space import (INPUT, LAYER, VALUE, Dimension, Genome, SearchSpace,
                               register_model_reader)

REDUCTIONS = ("sum", "mean", "concat", "none")
TensorOrList = Union[torch.Tensor, list, None]


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    return reduction


def _check_key(key: str | None) -> str | None:
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError(f"a key must be a non-empty string or None, got {key!r}")
    return key


def reduce_tensors(tensors: list, reduction: str) -> TensorOrList:
    """Combine the chosen tensors as NNI v1's ``_tensor_reduction`` does.

    ``none`` returns the list (``[]`` when nothing is chosen); otherwise an empty choice
    gives ``None`` and a single tensor is returned as is; ``sum`` and ``mean`` add with
    broadcasting (``(2, 3)`` plus ``(2, 1)`` works); ``concat`` joins on dim 1.
    """
    if reduction == "none":
        return list(tensors)
    if not tensors:
        return None
    if len(tensors) == 1:
        return tensors[0]
    if reduction == "concat":
        return torch.cat(tensors, dim=1)
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total if reduction == "sum" else total / len(tensors)


def _mask(n: int, indices: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    mask[list(indices)] = True
    return mask


def _first_device(values: Sequence[Any]) -> torch.device | None:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return None


_NNI_COUNTER = itertools.count(1)  # NNI v1's global_mutable_counting: mutables built without a key


class Mutable(nn.Module):
    """Base class of the choices.

    ``key`` is never ``None``: the explicit key, else NNI v1's counter name
    (``LayerChoice3``: class name plus a process-wide counter over the mutables built
    without a key) until a search space binds the model, then the bound key (its path
    key). ``nni_key`` keeps the construction-time key.
    """

    kind: str = ""

    def __init__(self, key: str | None = None):
        super().__init__()
        self._explicit_key = _check_key(key)
        self._nni_order: int | None = next(_NNI_COUNTER) if key is None else None
        self.nni_key: str = key if key is not None else f"{type(self).__name__}{self._nni_order}"
        self.key: str = self.nni_key

    def dimension(self, key: str) -> Dimension:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_choice(self, indices: Sequence[int]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LayerChoice(Mutable):
    """Choose one of several candidate modules (NNI v1 ``LayerChoice``).

    ``op_candidates``: a list (candidate names ``"0"``, ``"1"``, ...) or a mapping of
    names to modules. The forward calls the chosen candidate with the caller's arguments;
    ``return_mask=True`` returns ``(output, mask)`` with a one-hot boolean mask.
    """

    kind = LAYER

    def __init__(self, op_candidates: Sequence[nn.Module] | Mapping[str, nn.Module],
                 reduction: str = "sum", return_mask: bool = False, key: str | None = None):
        super().__init__(key)
        if isinstance(op_candidates, Mapping):
            named = list(op_candidates.items())
        elif isinstance(op_candidates, (list, tuple, nn.ModuleList)):
            named = [(str(i), op) for i, op in enumerate(op_candidates)]
        else:
            raise TypeError("op_candidates must be a list of modules or an OrderedDict of "
                            f"name -> module, got {type(op_candidates).__name__}")
        if not named:
            raise ValueError("LayerChoice needs at least one candidate, got none")
        for name, op in named:
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"candidate names must be non-empty strings without '.', got {name!r}")
            if not isinstance(op, nn.Module):
                raise TypeError(f"candidate {name!r} must be an nn.Module, got {type(op).__name__}")
            self.add_module(name, op)
        self.names: list[str] = [name for name, _ in named]
        self.reduction = _check_reduction(reduction)
        self.return_mask = bool(return_mask)
        self._chosen: list[int] = [0]

    @property
    def length(self) -> int:
        """The number of candidates (NNI v1's ``LayerChoice.length``)."""
        return len(self.names)

    @property
    def choices(self) -> list[nn.Module]:
        """The candidate modules, in order."""
        return [self._modules[name] for name in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.choices)

    def __getitem__(self, item: int | str) -> nn.Module:
        if isinstance(item, str):
            if item not in self.names:
                raise KeyError(f"unknown candidate {item!r}; candidates: {self.names}")
            return self._modules[item]
        return self.choices[item]

    def dimension(self, key: str) -> Dimension:
        return Dimension(key=key, kind=LAYER, choices=tuple(self.names))

    def set_choice(self, indices: Sequence[int]) -> None:
        self._chosen = [int(i) for i in indices]

    @property
    def chosen(self) -> list[str]:
        """The names of the candidates the supernet currently runs."""
        return [self.names[i] for i in self._chosen]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        outputs = [self.choices[i](*args, **kwargs) for i in self._chosen]
        # one candidate: its output as is; none (an NNI export's []) or several: reduced
        out = outputs[0] if len(outputs) == 1 else reduce_tensors(outputs, self.reduction)
        if self.return_mask:
            return out, _mask(len(self.names), self._chosen, _first_device(outputs))
        return out

    def extra_repr(self) -> str:
        return f"key={self.key!r}, chosen={self.chosen}"


class InputChoice(Mutable):
    """Choose a subset of the inputs (NNI v1 ``InputChoice``).

    ``n_candidates`` or ``choose_from`` (source labels, the keys of a dict passed to
    forward) gives the candidates. Candidate names (the decisions of a genome) are the
    ``choose_from`` labels when they are unique and non-empty, else ``"0"``, ``"1"``, ...
    (``NO_KEY`` = ``""`` marks an input with no source, as in NNI's ENAS cells; without
    ``choose_from``, ``choose_from`` is ``[NO_KEY] * n_candidates`` as in NNI). NNI's export
    names (``""`` for the input of ``n_candidates=1``) are accepted in genomes.
    ``n_chosen=None`` allows any subset, the empty one included; an int requires exactly
    that many. The forward takes a list (or a dict keyed by ``choose_from``) and reduces
    the chosen inputs (see :func:`reduce_tensors`: ``None`` for an empty choice, ``[]``
    with ``reduction="none"``); ``return_mask=True`` returns ``(output, mask)``.
    """

    kind = INPUT
    NO_KEY = ""

    def __init__(self, n_candidates: int | None = None, choose_from: Sequence[str] | None = None,
                 n_chosen: int | None = None, reduction: str = "sum", return_mask: bool = False,
                 key: str | None = None):
        super().__init__(key)
        if choose_from is not None:
            labels = [str(label) for label in choose_from]
            if not labels:
                raise ValueError("choose_from needs at least one label, got []")
            if n_candidates is not None and n_candidates != len(labels):
                raise ValueError(f"n_candidates={n_candidates} disagrees with choose_from, "
                                 f"which has {len(labels)} entries: {labels}")
        elif n_candidates is not None:
            if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
                raise ValueError(f"n_candidates must be a positive int, got {n_candidates!r}")
            labels = [self.NO_KEY] * n_candidates
        else:
            raise ValueError("InputChoice needs n_candidates or choose_from; got neither")
        named = len(set(labels)) == len(labels) and all(labels)
        names = labels if named else [str(i) for i in range(len(labels))]
        if n_chosen is not None and (isinstance(n_chosen, bool) or not isinstance(n_chosen, int)
                                     or not 0 <= n_chosen <= len(names)):
            raise ValueError(f"n_chosen must be None or an int between 0 and n_candidates "
                             f"({len(names)}), got {n_chosen!r}")
        self.names: list[str] = names
        self.choose_from: list[str] = labels
        self.n_candidates = len(names)
        self.n_chosen = n_chosen
        self.reduction = _check_reduction(reduction)
        self.return_mask = bool(return_mask)
        default = self.n_candidates if n_chosen is None else n_chosen
        self._chosen: list[int] = list(range(default))

    @property
    def nni_labels(self) -> tuple[str, ...] | None:
        """The names NNI's export gives the candidates, where they differ from ``names``
        (NNI names them by ``choose_from`` when its labels are unique, else by index)."""
        if self.choose_from == self.names or len(set(self.choose_from)) != len(self.choose_from):
            return None
        return tuple(self.choose_from)

    def dimension(self, key: str) -> Dimension:
        return Dimension(key=key, kind=INPUT, choices=tuple(self.names), n_chosen=self.n_chosen,
                         labels=self.nni_labels)

    def set_choice(self, indices: Sequence[int]) -> None:
        self._chosen = sorted(int(i) for i in indices)

    @property
    def chosen(self) -> list[str]:
        return [self.names[i] for i in self._chosen]

    def forward(self, optional_inputs: Sequence[Any] | Mapping[str, Any]) -> Any:
        return select_inputs(optional_inputs, self.choose_from, self._chosen, self.reduction,
                             self.return_mask, self.key)

    def extra_repr(self) -> str:
        return (f"key={self.key!r}, n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, "
                f"chosen={self.chosen}")


def select_inputs(optional_inputs: Sequence[Any] | Mapping[str, Any], names: Sequence[str],
                  chosen: Sequence[int], reduction: str, return_mask: bool,
                  key: str | None) -> Any:
    """The InputChoice forward over a fixed selection (shared by supernet and fixed model).

    ``names``: the ``choose_from`` labels, which key a dict input (in NNI's order).
    """
    if isinstance(optional_inputs, Mapping):
        missing = [name for name in dict.fromkeys(names) if name not in optional_inputs]
        if missing:
            raise ValueError(f"InputChoice {key!r}: the input dict misses {missing}; "
                             f"it must hold {list(dict.fromkeys(names))}")
        optional_inputs = [optional_inputs[name] for name in names]
    if not isinstance(optional_inputs, (list, tuple)) or len(optional_inputs) != len(names):
        got = len(optional_inputs) if isinstance(optional_inputs, (list, tuple)) else type(optional_inputs).__name__
        raise ValueError(f"InputChoice {key!r} takes a list of {len(names)} inputs, got {got}")
    picked = [optional_inputs[i] for i in chosen]
    if reduction != "none" and any(value is None for value in picked):
        empty = [names[i] or str(i) for i in chosen if optional_inputs[i] is None]
        raise ValueError(f"InputChoice {key!r} chose input(s) {empty}, which are None (the "
                         f"output of a LayerChoice fixed to no operation, []); a genome may "
                         f"leave a LayerChoice empty only where no InputChoice chooses it")
    out = reduce_tensors(picked, reduction)
    if return_mask:
        return out, _mask(len(names), chosen, _first_device(optional_inputs))
    return out


class MutableScope(nn.Module):
    """A module whose ``key`` prefixes the keys of the mutables inside it (NNI v1).

    Subclass it for a cell: ``class Cell(MutableScope): def __init__(self):
    super().__init__("cell1")``.
    """

    def __init__(self, key: str):
        super().__init__()
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"a MutableScope key must be a non-empty string without '/', got {key!r}")
        self.key = key


@dataclass
class Binding:
    """The result of binding a model's keys: the space and each mutable with its path."""

    space: SearchSpace
    mutables: list[Mutable]
    paths: list[str]


def _key_for(path: str, mutable: Mutable, scopes: list[tuple[str, MutableScope]]) -> str:
    """The key of a mutable at ``path`` inside ``scopes`` (outermost first)."""
    if mutable._explicit_key is not None:
        local = mutable._explicit_key
    elif scopes:
        scope_path = scopes[-1][0]
        local = path[len(scope_path) + 1:] if scope_path else path
    else:
        local = path or type(mutable).__name__
    return "/".join([scope.key for _, scope in scopes] + [local])


def bind_keys(model: nn.Module) -> Binding:
    """Give every mutable of ``model`` its key and build the search space.

    Raises ``ValueError`` when mutables sharing a key disagree on kind, candidate count or
    ``n_chosen``, naming both module paths.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    scope_paths: list[tuple[str, MutableScope]] = []
    dimensions: dict[str, Dimension] = {}
    first_path: dict[str, str] = {}
    mutables: list[Mutable] = []
    paths: list[str] = []
    bound: dict[int, str] = {}  # a module registered at several paths keeps its first key
    for path, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, MutableScope):
            scope_paths.append((path, module))
        if not isinstance(module, Mutable):
            continue
        if id(module) in bound:
            mutables.append(module)
            paths.append(path)
            continue
        scopes = [(p, s) for p, s in scope_paths
                  if s is not module and (p == "" or path.startswith(p + "."))]
        key = _key_for(path, module, scopes)
        dim = module.dimension(key)
        if key in dimensions:
            _check_shared(key, dimensions[key], first_path[key], dim, path)
        else:
            dimensions[key] = dim
            first_path[key] = path
        module.key = key
        bound[id(module)] = key
        mutables.append(module)
        paths.append(path)
    space = SearchSpace(list(dimensions.values()), aliases=nni_names(mutables))
    return Binding(space, mutables, paths)


def nni_names(mutables: Sequence[Mutable]) -> dict[str, str]:
    """NNI v1's automatic key of each mutable built without a key, mapped to its bound key.

    NNI names such a mutable ``<class name><n>`` from one process-wide counter in
    construction order, starting at 1. The numbers here count from the first of these
    mutables, assuming, as in an NNI script, that the model is the only one built since
    the counter started (mutables built in between and dropped keep their gap).
    """
    auto = {id(m): m for m in mutables if m._nni_order is not None}
    if not auto:
        return {}
    first = min(m._nni_order for m in auto.values())
    return {f"{type(m).__name__}{m._nni_order - first + 1}": m.key
            for m in sorted(auto.values(), key=lambda m: m._nni_order)}


def _check_shared(key: str, first: Dimension, first_path: str, other: Dimension, path: str) -> None:
    def show(p: str) -> str:
        return repr(p) if p else "<model root>"

    if first.kind == other.kind == VALUE and first.choices != other.choices:
        raise ValueError(
            f"value choices sharing key {key!r} must have the same candidates: {show(first_path)} "
            f"has {list(first.choices)}, {show(path)} has {list(other.choices)}; give one of "
            f"them another key")
    if first.kind != other.kind or len(first.choices) != len(other.choices) \
            or first.n_chosen != other.n_chosen:
        raise ValueError(
            f"mutables sharing key {key!r} must agree on kind, number of candidates and "
            f"n_chosen: {show(first_path)} is a {first.kind} choice with {len(first.choices)} "
            f"candidates (n_chosen={first.n_chosen}), {show(path)} is a {other.kind} choice with "
            f"{len(other.choices)} candidates (n_chosen={other.n_chosen}); give one of them "
            f"another key")


def decision_indices(dimension: Dimension, decision: Any) -> list[int]:
    """Candidate indices of a canonical decision (``[]`` for an empty LayerChoice decision)."""
    if dimension.kind == LAYER:
        names = list(decision) if isinstance(decision, list) else [decision]
    elif dimension.kind == INPUT:
        names = list(decision)
    else:  # a value choice: the value itself
        names = [decision]
    return [dimension.choices.index(name) for name in names]


class _TorchModelReader:
    """Reads the mutables of a torch model for :class:`SearchSpace` (see ``register_model_reader``)."""

    def space_of(self, model: Any) -> SearchSpace:
        if not isinstance(model, nn.Module) and callable(model):
            model = model()  # a class or factory; one with value choices has imported
            # raynas.core.values, whose reader (registered over this one) records them
        return bind_keys(model).space

    def apply(self, model: nn.Module, space: SearchSpace, genome: Genome) -> None:
        binding = bind_keys(model)
        if binding.space != space:
            raise ValueError("this model's space differs from the space the genome is applied with")
        for mutable in binding.mutables:
            mutable.set_choice(decision_indices(space[mutable.key], genome[mutable.key]))


register_model_reader(_TorchModelReader())
