"""Value choices and repeated blocks: decisions made while a model is built.

``ValueChoice([16, 32, 64], key="width")`` is a number (or string) the model's constructor
uses like any other: ``nn.Conv2d(1, width, 3)``. ``Repeat(block, depth)`` holds ``block(i)``
for each block ``i`` and runs the first ``depth`` of them. Since these decisions shape the
model as it is built, a space with value choices is built from the model's class (or any
zero-argument factory):

* :func:`record` builds it once, with each ValueChoice at its first candidate and each
  Repeat at its deepest, and records every decision, with the depths it depends on
  (``SearchSpace.from_model(Net)``);
* :func:`build` builds it with a genome's values (``fix(Net, genome)`` then fixes it).

Both run the constructor inside a build context (a ``contextvars.ContextVar``) in which
``ValueChoice`` returns a plain value. Outside one (``Net()``) it returns its first
candidate, marked so that ``SearchSpace.from_model(instance)`` and ``fix(instance, ...)``
can say to pass the class instead.
"""

from __future__ import annotations

import contextlib
import copy
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import torch
import torch.nn as nn

from raynas.core.mutables import Binding, Mutable, _TorchModelReader, bind_keys
from raynas.core.space import (VALUE, Dimension, Genome, SearchSpace, Value, is_plain_value,
                               register_model_reader)

Factory = Callable[[], nn.Module]


# ------------------------------------------------------------------ marked values (no context)
class _MarkedInt(int):
    raynas_key: str = ""


class _MarkedFloat(float):
    raynas_key: str = ""


class _MarkedStr(str):
    raynas_key: str = ""


def _marked(value: Value, key: str) -> Value:
    kind = {int: _MarkedInt, float: _MarkedFloat, str: _MarkedStr}[type(value)]
    out = kind(value)
    out.raynas_key = key
    return out


# ------------------------------------------------------------------ the build context
Clause = tuple[tuple["Repeat", int], ...]


@dataclass
class _Build:
    """One model being built: ``values`` is ``None`` while recording, else the genome."""

    values: Mapping[str, Any] | None
    order: list[Union[str, "Repeat"]] = field(default_factory=list)  # decisions, call order
    choices: dict[str, tuple] = field(default_factory=dict)
    clauses: dict[str, set] = field(default_factory=dict)
    blocks: list[tuple["Repeat", int]] = field(default_factory=list)  # the blocks being built

    def value(self, key: str, candidates: tuple) -> Value:
        known = self.choices.get(key)
        if known is None:
            self.choices[key] = candidates
            self.order.append(key)
        elif list(known) != list(candidates) or [type(c) for c in known] != [type(c) for c in candidates]:
            raise ValueError(
                f"ValueChoice key {key!r} is used with candidates {list(known)} and "
                f"{list(candidates)}; the same key is one decision: give both the same "
                f"candidates, or one of them another key")
        self.clauses.setdefault(key, set()).add(tuple(self.blocks))
        if self.values is None:
            return candidates[0]
        if key not in self.values:
            raise ValueError(f"ValueChoice {key!r} was not seen when the space was recorded: "
                             f"the model's constructor must make the same decisions every time")
        return self.values[key]


_CONTEXT: ContextVar[_Build | None] = ContextVar("raynas_build", default=None)


@contextlib.contextmanager
def _building(build: _Build) -> Iterator[_Build]:
    token = _CONTEXT.set(build)
    try:
        yield build
    finally:
        _CONTEXT.reset(token)


# ------------------------------------------------------------------ the user's API
def _check_candidates(what: str, candidates: Any) -> tuple:
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) \
            or not candidates:
        raise ValueError(f"{what} takes a non-empty list of candidates, got {candidates!r}")
    values = tuple(c.item() if hasattr(c, "item") and not isinstance(c, (str, int, float)) else c
                   for c in candidates)
    bad = [c for c in values if not is_plain_value(c)]
    if bad:
        raise ValueError(f"{what}: candidates must be ints, finite floats or strings, got "
                         f"{bad[0]!r} in {list(values)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what}: candidates must be unique, got {list(values)}")
    return tuple(int(c) if isinstance(c, int) else float(c) if isinstance(c, float) else str(c)
                 for c in values)  # plain types, never marked ones


def ValueChoice(candidates: Sequence[Value], key: str | None = None) -> Any:  # noqa: N802
    """One decision among plain values, used while the model is built (NNI 2's ValueChoice).

    Returns the genome's value (a plain ``int``, ``float`` or ``str``) inside
    ``SearchSpace.from_model(Net)`` / ``fix(Net, genome)``, and the first candidate elsewhere.
    ``key`` is required (there is no module path to derive it from; a ``MutableScope`` does
    not prefix it); the same key used twice is one decision and must have the same
    candidates. Numeric candidates are ordered: mutations prefer neighbouring values.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"ValueChoice needs a key, a non-empty string (there is no module path "
                         f"to derive it from), got key={key!r}; e.g. "
                         f"ValueChoice([16, 32, 64], key='width')")
    values = _check_candidates(f"ValueChoice {key!r}", candidates)
    build = _CONTEXT.get()
    if build is None:
        return _marked(values[0], key)
    return build.value(key, values)


def _depth_counts(depth: Any) -> tuple[int, ...]:
    def is_count(n: Any) -> bool:
        return isinstance(n, int) and not isinstance(n, bool) and n >= 0

    if is_count(depth):
        return (int(depth),)
    if isinstance(depth, tuple) and len(depth) == 2 and all(map(is_count, depth)) \
            and depth[0] <= depth[1]:
        return tuple(range(int(depth[0]), int(depth[1]) + 1))
    if isinstance(depth, list) and depth and all(map(is_count, depth)) \
            and len(set(depth)) == len(depth):
        return tuple(int(n) for n in depth)
    raise ValueError(f"Repeat depth must be a list of distinct counts >= 0 ([1, 2, 4]), a "
                     f"(min, max) range ((1, 3)) or one count, got {depth!r}")


class Repeat(Mutable):
    """``block`` repeated ``depth`` times; ``depth`` is a decision (a value choice of counts).

    ``block``: a factory taking the block's index (``lambda i: Block(...)``) or a module
    (deep-copied per block). ``depth``: a list of allowed counts (the first is the default),
    a ``(min, max)`` range, or one count. The module holds the blocks of the deepest
    configuration, named ``"0"``, ``"1"``, ... (so the mutables inside get keys by path,
    ``blocks.0.op``); its forward runs the first ``depth`` of them in sequence. ``key``
    defaults to the module's path. The decisions inside block ``i`` only matter when
    ``depth > i``: the space records that (``Dimension.when``), and the canonical genome
    gives them their default. ``fix`` turns it into an ``nn.Sequential`` of ``depth`` blocks.
    """

    kind = VALUE

    def __init__(self, block: Callable[[int], nn.Module] | nn.Module, depth: Any,
                 key: str | None = None):
        super().__init__(key)
        self.counts: tuple[int, ...] = _depth_counts(depth)
        if not isinstance(block, nn.Module) and not callable(block):
            raise TypeError(f"Repeat block must be a module or a factory taking the block index, "
                            f"got {type(block).__name__}")
        build = _CONTEXT.get()
        if build is not None:
            build.order.append(self)
        for index in range(max(self.counts)):
            if build is not None:
                build.blocks.append((self, index + 1))
            try:
                made = copy.deepcopy(block) if isinstance(block, nn.Module) else block(index)
            finally:
                if build is not None:
                    build.blocks.pop()
            if not isinstance(made, nn.Module):
                raise TypeError(f"Repeat block factory must return an nn.Module, got "
                                f"{type(made).__name__} for block {index}")
            self.add_module(str(index), made)
        self.depth: int = self.counts[0]

    @property
    def choice_names(self) -> list[str]:
        return [str(n) for n in self.counts]

    def dimension(self, key: str) -> Dimension:
        return Dimension(key=key, kind=VALUE, choices=self.counts)

    def set_choice(self, indices: Sequence[int]) -> None:
        self.depth = self.counts[int(indices[0])]

    @property
    def blocks(self) -> list[nn.Module]:
        """Every block built (the deepest configuration)."""
        return list(self._modules.values())

    def forward(self, x: Any) -> Any:
        for block in self.blocks[:self.depth]:
            x = block(x)
        return x

    def extra_repr(self) -> str:
        return f"key={self.key!r}, depth={self.depth}, counts={list(self.counts)}"


# ------------------------------------------------------------------ instances
def value_choices_of(model: nn.Module) -> list[str]:
    """Descriptions of the value choices an instance holds (built outside a build context:
    Repeats, and the values of ValueChoices that modules keep, ``nn.Conv2d``'s channels)."""
    found: dict[str, None] = {}
    for path, module in model.named_modules():
        if isinstance(module, Repeat):
            found[f"Repeat {module._explicit_key or path or '<root>'!r}"] = None
        for value in vars(module).values():
            items = value if isinstance(value, (tuple, list)) else (value,)
            for item in items:
                if isinstance(item, (_MarkedInt, _MarkedFloat, _MarkedStr)):
                    found[f"ValueChoice {item.raynas_key!r}"] = None
    return list(found)


def check_instance(model: nn.Module) -> None:
    """``ValueError`` when ``model`` holds value choices: they shaped it as it was built, so
    only its class can build other genomes."""
    found = value_choices_of(model)
    if found:
        name = type(model).__name__
        raise ValueError(
            f"this {name} instance holds value choices ({', '.join(found)}), which shape the "
            f"model as it is built: pass the class (or a zero-argument factory) instead of an "
            f"instance, e.g. SearchSpace.from_model({name}) and fix({name}, genome)")


# ------------------------------------------------------------------ building from a factory
@dataclass
class Built:
    """A model built from a factory, its bound mutables and the decisions it recorded."""

    model: nn.Module
    binding: Binding
    build: _Build

    @property
    def has_values(self) -> bool:
        """Whether the build made value decisions (a ValueChoice or a Repeat)."""
        return bool(self.build.order) or any(isinstance(m, Repeat) for m in self.binding.mutables)


def _factory_name(factory: Any) -> str:
    return getattr(factory, "__qualname__", None) or type(factory).__name__


def _run(factory: Factory, build: _Build) -> Built:
    if isinstance(factory, nn.Module) or not callable(factory):
        raise TypeError(f"expected a model class or a zero-argument factory, got "
                        f"{type(factory).__name__}")
    with _building(build):
        try:
            model = factory()
        except Exception as err:  # noqa: BLE001 - user code may raise anything
            raise ValueError(f"building the model failed: {type(err).__name__}: {err} "
                             f"(in {_factory_name(factory)}())") from err
    if not isinstance(model, nn.Module):
        raise ValueError(f"{_factory_name(factory)}() returned a {type(model).__name__}, not an "
                         f"nn.Module")
    return Built(model, bind_keys(model), build)


def record(factory: Factory) -> tuple[SearchSpace, Built]:
    """Build ``factory()`` at each decision's default (Repeats at their deepest) and return
    its space (value choices in the order they were made, then the model's LayerChoices and
    InputChoices in module order) with the built supernet.

    ``ValueError``: the factory fails, or value choices sharing a key disagree.
    """
    built = _run(factory, _Build(values=None))
    return _space_of(built), built


def build(factory: Factory, genome: Genome) -> Built:
    """Build ``factory()`` with the values of ``genome`` (canonical, validated)."""
    return _run(factory, _Build(values=genome))


def _space_of(built: Built) -> SearchSpace:
    binding, decided = built.binding, built.build
    repeats = {id(m): (m, p) for m, p in zip(binding.mutables, binding.paths)
               if isinstance(m, Repeat)}
    for repeat in decided.order:
        if isinstance(repeat, Repeat) and id(repeat) not in repeats:
            raise ValueError(f"a Repeat (depth {list(repeat.counts)}) was built but is not part "
                             f"of the model: assign it to a module attribute")
    base = {d.key: d for d in binding.space.dimensions}
    clauses: dict[str, set] = {}
    for mutable, path in zip(binding.mutables, binding.paths):
        clause = []
        for repeat, repeat_path in repeats.values():
            if repeat is mutable:
                continue
            prefix = f"{repeat_path}." if repeat_path else ""
            if path.startswith(prefix) and path != repeat_path:
                clause.append((repeat, int(path[len(prefix):].split(".")[0]) + 1))
        clauses.setdefault(mutable.key, set()).add(tuple(clause))
    for key, uses in decided.clauses.items():
        if key in base:
            other = "a Repeat's depth" if base[key].kind == VALUE else f"a {base[key].kind} choice"
            raise ValueError(f"ValueChoice key {key!r} is also the key of {other}; they are "
                             f"different decisions: give one of them another key")
        clauses[key] = set(uses)

    def when(key: str) -> tuple:
        out = []
        for clause in clauses.get(key, ()):
            out.append(tuple((r.key, n) for r, n in clause if n > min(r.counts)))
        return tuple(out)

    keys = list(dict.fromkeys(
        [item if isinstance(item, str) else item.key for item in decided.order]
        + [d.key for d in binding.space.dimensions]))
    dims = []
    for key in keys:
        if key in base:
            d = base[key]
            dims.append(Dimension(d.key, d.kind, d.choices, d.n_chosen, when=when(key)))
        else:
            dims.append(Dimension(key, VALUE, decided.choices[key], when=when(key)))
    return SearchSpace(dims)


def supernet_or_factory(factory: Factory) -> Any:
    """``factory()`` when it holds LayerChoices and InputChoices only (read and fixed as an
    instance, built once), else ``factory`` itself (value choices: built per genome)."""
    with torch.random.fork_rng(devices=[]):
        _, built = record(factory)
    return factory if built.has_values else built.model


# ------------------------------------------------------------------ the model reader
class _Reader(_TorchModelReader):
    """Reads instances as before (refusing those that hold value choices) and builds classes
    and factories (``SearchSpace.from_model(Net)``)."""

    def space_of(self, model: Any) -> SearchSpace:
        if isinstance(model, nn.Module):
            check_instance(model)
            return bind_keys(model).space
        with torch.random.fork_rng(devices=[]):  # recording leaves the seeded RNG alone
            return record(model)[0]

    def apply(self, model: Any, space: SearchSpace, genome: Genome) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"apply sets the choices of a model instance, got "
                            f"{type(model).__name__}; build one with fix({_factory_name(model)}, "
                            f"genome)")
        check_instance(model)
        super().apply(model, space, genome)


register_model_reader(_Reader())
