"""The search space as plain data: one :class:`Dimension` per mutable key.

A *genome* is a JSON-able ``dict`` ``{key: decision}``:

* a ``layer`` dimension (LayerChoice) takes the chosen candidate's name (``str``);
* an ``input`` dimension (InputChoice) takes the list of chosen candidate names, in
  candidate order (an empty list is the empty choice);
* a ``value`` dimension (ValueChoice, a Repeat's depth) takes the value itself: an int, a
  float or a str, one of ``choices``.

A dimension may be *conditional* (``when``): its decision only matters when enough blocks of
a ``Repeat`` are built (``{"stage1/depth": 3}``: the third block exists). A genome's inactive
decisions do not change the model, so the canonical genome gives them the dimension's
default; ``validate``, ``sample``, ``genomes`` and ``size`` all work on canonical genomes
(``size`` counts distinct models).

This module imports neither torch nor ray: strategies depend on it alone.
``SearchSpace.from_model`` reads a model through the reader that
:mod:`raynas.core.mutables` registers.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

Genome = dict[str, Any]
SeedLike = Union[int, None, random.Random, np.random.Generator]

LAYER = "layer"
INPUT = "input"
VALUE = "value"
KINDS = (LAYER, INPUT, VALUE)

Value = Union[int, float, str]
#: ``when`` of a dimension: any of these clauses holds; a clause holds when every named
#: depth decision is at least its count. ``()`` means always.
Condition = tuple[tuple[tuple[str, int], ...], ...]


def is_plain_value(value: Any) -> bool:
    """An int (not bool), a finite float or a str: what a value choice may hold."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (int, str))


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones."""
    return value.item() if isinstance(value, np.generic) else value


def _normalize_when(key: str, when: Any) -> Condition:
    """``when`` as sorted, de-duplicated tuples; accepts the JSON form (a list of dicts)."""
    clauses = set()
    for clause in when or ():
        items = clause.items() if isinstance(clause, Mapping) else clause
        pairs = []
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValueError(f"dimension {key!r}: a condition maps a depth key to a count, "
                                 f"got {clause!r}")
            gate, count = item
            if not isinstance(gate, str) or isinstance(count, bool) or not isinstance(
                    count, (int, np.integer)):
                raise ValueError(f"dimension {key!r}: a condition maps a depth key (str) to a "
                                 f"count (int), got {gate!r}: {count!r}")
            pairs.append((gate, int(count)))
        clauses.add(tuple(sorted(pairs)))
    if () in clauses:  # a clause without condition always holds
        return ()
    return tuple(sorted(clauses))


def make_rng(seed: SeedLike) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int, ``None``, a ``Random`` or a Generator.

    A Generator is used as is (its state advances); an int or ``None`` seeds a new one.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, random.Random):
        return np.random.default_rng(seed.getrandbits(64))
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed must be an int, None, random.Random or numpy.random.Generator, "
        f"got {type(seed).__name__}")


class ModelReader(Protocol):
    """What reads a torch model's mutables: registered by :mod:`raynas.core.mutables`, so that
    this module (which strategies import) stays free of torch."""

    def space_of(self, model: Any) -> "SearchSpace": ...

    def apply(self, model: Any, space: "SearchSpace", genome: Genome) -> None: ...


_READER: list[ModelReader] = []


def register_model_reader(reader: ModelReader) -> None:
    """Install the reader that ``SearchSpace.from_model`` and ``.apply`` use."""
    _READER[:] = [reader]


def _model_reader() -> ModelReader:
    if not _READER:
        raise RuntimeError("no model reader is registered: import raynas.core.mutables "
                           "(any model that holds a LayerChoice or InputChoice has)")
    return _READER[0]


@dataclass(frozen=True)
class Dimension:
    """One decision of the space.

    ``choices`` are candidate names (``layer``, ``input``) or the plain values (``value``:
    ints, floats, strs). For ``kind="input"``, ``n_chosen=None`` allows any subset (the
    empty one included); an int requires exactly that many inputs. ``when`` (see the module
    docstring) makes the decision conditional on depth decisions: ``((("d", 2),),)``, one
    clause, means "when decision ``d`` is at least 2"; it is part of the dimension's identity.
    ``labels`` (input only, optional): NNI v1's ``choose_from`` labels of the candidates
    when they differ from ``choices`` and are unique (``("",)`` for ``n_candidates=1``),
    so that a decision may name a candidate the way an NNI export does; it is a lookup
    aid, not part of the dimension's identity (``==`` and ``hash`` ignore it).
    """

    key: str
    kind: str
    choices: tuple[Any, ...]
    n_chosen: int | None = None
    when: Condition = ()
    labels: tuple[str, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"a dimension key must be a non-empty string, got {self.key!r}")
        if self.kind not in KINDS:
            raise ValueError(
                f"dimension {self.key!r}: kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.kind == VALUE:
            values = tuple(_plain(c) for c in self.choices)
            bad = [c for c in values if not is_plain_value(c)]
            if bad:
                raise ValueError(f"dimension {self.key!r}: value choices must be ints, finite "
                                 f"floats or strs, got {bad[0]!r} in {list(values)}")
            object.__setattr__(self, "choices", values)
        else:
            object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        object.__setattr__(self, "when", _normalize_when(self.key, self.when))
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(
                f"dimension {self.key!r}: candidates must be unique, got {list(self.choices)}")
        if self.kind in (LAYER, VALUE):
            if not self.choices:
                what = "a LayerChoice" if self.kind == LAYER else "a value choice"
                raise ValueError(f"dimension {self.key!r}: {what} needs at least one candidate")
            if self.n_chosen is not None:
                raise ValueError(f"dimension {self.key!r}: n_chosen applies to InputChoice only")
        elif self.n_chosen is not None and not 0 <= self.n_chosen <= len(self.choices):
            raise ValueError(
                f"dimension {self.key!r}: n_chosen must be between 0 and the number of "
                f"candidates ({len(self.choices)}), got {self.n_chosen}")
        if self.labels is not None:
            labels = tuple(str(label) for label in self.labels)
            if self.kind != INPUT or len(labels) != len(self.choices) \
                    or len(set(labels)) != len(labels):
                raise ValueError(
                    f"dimension {self.key!r}: labels apply to an input dimension and need one "
                    f"unique label per candidate ({len(self.choices)}), got {list(labels)}")
            object.__setattr__(self, "labels", labels)

    @property
    def numeric(self) -> bool:
        """A value choice among numbers only: its candidates are ordered."""
        return self.kind == VALUE and all(isinstance(c, (int, float)) for c in self.choices)

    @property
    def size(self) -> int:
        """Number of distinct decisions."""
        if self.kind != INPUT:
            return len(self.choices)
        if self.n_chosen is None:
            return 2 ** len(self.choices)
        return math.comb(len(self.choices), self.n_chosen)

    def describe(self) -> str:
        """The valid decisions in words, for error messages."""
        if self.kind != INPUT:
            return f"one of {list(self.choices)}"
        count = "any number" if self.n_chosen is None else f"exactly {self.n_chosen}"
        return f"a list of {count} of {list(self.choices)}"

    def default(self) -> Any:
        """The supernet's default decision: the first candidate, or all inputs
        (the first ``n_chosen`` when ``n_chosen`` is set). It is also the canonical decision
        of an inactive dimension."""
        if self.kind != INPUT:
            return self.choices[0]
        count = len(self.choices) if self.n_chosen is None else self.n_chosen
        return list(self.choices[:count])

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniformly random decision."""
        n = len(self.choices)
        if self.kind != INPUT:
            return self.choices[int(rng.integers(n))]
        if self.n_chosen is None:
            mask = rng.integers(2, size=n)
            return [c for c, bit in zip(self.choices, mask) if bit]
        picked = sorted(int(i) for i in rng.choice(n, size=self.n_chosen, replace=False))
        return [self.choices[i] for i in picked]

    def decisions(self) -> Iterator[Any]:
        """Every valid decision, in a fixed order."""
        if self.kind != INPUT:
            yield from self.choices
            return
        sizes = range(len(self.choices) + 1) if self.n_chosen is None else [self.n_chosen]
        for k in sizes:
            for combo in itertools.combinations(self.choices, k):
                yield list(combo)

    def normalize(self, decision: Any) -> Any:
        """The canonical form of a decision, or ``ValueError`` naming the key.

        Accepts NNI v1 export forms too: a candidate name, an index, or a one-hot (LayerChoice)
        / multi-hot (InputChoice) list of booleans (or of floats 0.0 / 1.0); numpy arrays
        count as lists; an input candidate may be named by its NNI label (``""`` for the only
        candidate of ``InputChoice(n_candidates=1)``). A LayerChoice decision may be empty
        (``[]`` or an all-false mask: NNI's DARTS exports give it for an edge that an
        InputChoice drops); its canonical form is ``[]`` and the fixed model holds no
        operation there. Strategies never propose it. A value choice takes the value itself
        (a number equal to a numeric candidate gives that candidate: ``32.0`` -> ``32``),
        never an index.
        """
        if isinstance(decision, np.ndarray):
            decision = decision.tolist()
        if self.kind == VALUE:
            return self._normalize_value(decision)
        if self.kind == LAYER:
            return self._normalize_layer(decision)
        return self._normalize_input(decision)

    def _invalid(self, decision: Any, why: str = "") -> ValueError:
        extra = f" ({why})" if why else ""
        return ValueError(
            f"invalid decision for key {self.key!r}: got {decision!r}{extra}; "
            f"valid: {self.describe()}")

    def _index(self, item: Any, decision: Any) -> int:
        if isinstance(item, (bool, np.bool_)):
            raise self._invalid(decision)
        if isinstance(item, str):
            if item in self.choices:
                return self.choices.index(item)
            if self.labels is not None and item in self.labels:
                return self.labels.index(item)
            raise self._invalid(decision, f"unknown candidate {item!r}")
        if isinstance(item, (int, np.integer)):
            if 0 <= int(item) < len(self.choices):
                return int(item)
            raise self._invalid(decision, f"index {int(item)} out of range")
        raise self._invalid(decision)

    def _from_bools(self, decision: Sequence[Any]) -> list[int] | None:
        """Indices of a boolean mask (or an NNI v1 float mask of 0.0 / 1.0), else ``None``."""
        if decision and all(isinstance(b, (float, np.floating)) for b in decision):
            if not all(b in (0.0, 1.0) for b in decision):
                raise self._invalid(decision, "a float mask holds only 0.0 and 1.0")
            decision = [b == 1.0 for b in decision]
        if decision and all(isinstance(b, (bool, np.bool_)) for b in decision):
            if len(decision) != len(self.choices):
                raise self._invalid(decision, f"mask of length {len(decision)}, "
                                    f"expected {len(self.choices)}")
            return [i for i, b in enumerate(decision) if b]
        return None

    def _normalize_value(self, decision: Any) -> Value:
        decision = _plain(decision)
        if is_plain_value(decision):
            for choice in self.choices:
                if isinstance(choice, str) == isinstance(decision, str) and choice == decision:
                    return choice
        raise self._invalid(decision)

    def _normalize_layer(self, decision: Any) -> str | list:
        if isinstance(decision, (list, tuple)):
            picked = self._from_bools(list(decision))
            if picked is None and len(decision) == 1:
                picked = [self._index(decision[0], decision)]
            if picked is None and not decision:
                picked = []
            if picked == []:
                return []  # NNI v1: no operation on this edge
            if picked is None or len(picked) != 1:
                raise self._invalid(decision, "a LayerChoice takes exactly one candidate, "
                                    "or none ([]) in an NNI export")
            return self.choices[picked[0]]
        return self.choices[self._index(decision, decision)]

    def _normalize_input(self, decision: Any) -> list[str]:
        if isinstance(decision, (str, int, np.integer)) and not isinstance(decision, bool):
            decision = [decision]
        if not isinstance(decision, (list, tuple)):
            raise self._invalid(decision)
        picked = self._from_bools(list(decision))
        if picked is None:
            picked = [self._index(item, decision) for item in decision]
        if len(set(picked)) != len(picked):
            raise self._invalid(decision, "a candidate is chosen twice")
        if self.n_chosen is not None and len(picked) != self.n_chosen:
            raise self._invalid(decision, f"{len(picked)} chosen")
        return [self.choices[i] for i in sorted(picked)]

    def to_dict(self) -> dict[str, Any]:
        data = {"key": self.key, "kind": self.kind, "choices": list(self.choices),
                "n_chosen": self.n_chosen}
        if self.when:
            data["when"] = [dict(clause) for clause in self.when]
        if self.labels is not None:
            data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Dimension":
        allowed = {"key", "kind", "choices", "n_chosen", "when", "labels"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown dimension fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        n_chosen = data.get("n_chosen")
        if n_chosen is not None and (isinstance(n_chosen, bool) or not isinstance(n_chosen, int)):
            raise ValueError(f"n_chosen must be an int or null, got {n_chosen!r}")
        choices = data.get("choices")
        if data.get("kind") == VALUE:
            if not isinstance(choices, list) or not all(is_plain_value(c) for c in choices):
                raise ValueError(f"value choices must be a list of ints, floats or strings, "
                                 f"got {choices!r}")
        elif not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ValueError(f"choices must be a list of strings, got {choices!r}")
        when = data.get("when", [])
        if not isinstance(when, list) or not all(isinstance(c, dict) for c in when):
            raise ValueError(f"\"when\" must be a list of {{depth key: count}} objects, got {when!r}")
        labels = data.get("labels")
        if labels is not None and (not isinstance(labels, list)
                                   or not all(isinstance(label, str) for label in labels)):
            raise ValueError(f"labels must be a list of strings or null, got {labels!r}")
        return cls(key=data.get("key"), kind=data.get("kind"), choices=tuple(choices),
                   n_chosen=n_chosen, when=tuple(tuple(c.items()) for c in when),
                   labels=tuple(labels) if labels is not None else None)


class SearchSpace:
    """An ordered set of dimensions, one per distinct mutable key (model order).

    Value semantics: two spaces with the same dimensions are equal and hash equally.
    ``aliases`` maps other names of a key to it: NNI v1's automatic counter names
    (``LayerChoice1``, ``InputChoice2``, ...) of a model's mutables, so that an NNI export
    keyed by them validates; a lookup aid, not part of the space's identity.
    """

    def __init__(self, dimensions: Sequence[Dimension], aliases: Mapping[str, str] | None = None):
        self.dimensions: tuple[Dimension, ...] = tuple(dimensions)
        keys = [d.key for d in self.dimensions]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"a search space lists each key once; duplicated: {duplicated}")
        self._by_key = {d.key: d for d in self.dimensions}
        self.aliases: dict[str, str] = {}
        for alias, key in (aliases or {}).items():
            if key not in self._by_key:
                raise ValueError(f"alias {alias!r} names unknown key {key!r}; known keys: {keys}")
            if alias in self._by_key:
                continue  # a real key always wins over an alias of the same name
            self.aliases[str(alias)] = key
        self._gates = self._check_conditions()
        self._size: int | None = None

    def _check_conditions(self) -> list[str]:
        """The depth keys that conditions name (in space order); each must be a dimension of
        this space whose choices are ints."""
        named = {gate for d in self.dimensions for clause in d.when for gate, _ in clause}
        for d in self.dimensions:
            for clause in d.when:
                for gate, _ in clause:
                    if gate not in self._by_key:
                        raise ValueError(f"dimension {d.key!r} is conditional on {gate!r}, which "
                                         f"is not a key of the space; keys: {self.keys}")
                    g = self._by_key[gate]
                    if g.kind != VALUE or not all(isinstance(c, int) for c in g.choices):
                        raise ValueError(f"dimension {d.key!r} is conditional on {gate!r}, "
                                         f"which is not a value choice of ints (a depth): "
                                         f"{g.describe()}")
        return [d.key for d in self.dimensions if d.key in named]

    @property
    def conditional(self) -> bool:
        """Whether some decisions depend on depth decisions (a ``Repeat``)."""
        return bool(self._gates)

    def is_active(self, key: str, genome: Mapping[str, Any]) -> bool:
        """Whether ``key``'s decision shapes the model of ``genome`` (canonical decisions of
        the depth keys it depends on)."""
        when = self[key].when
        return not when or any(all(genome[gate] >= count for gate, count in clause)
                               for clause in when)

    def canonical(self, genome: Mapping[str, Any]) -> Genome:
        """``genome`` (whose decisions are canonical) with every inactive decision set to its
        dimension's default: genomes that build the same model become equal."""
        out = dict(genome)
        if self._gates:
            for d in self.dimensions:
                if d.when and not self.is_active(d.key, genome):
                    out[d.key] = d.default()
        return out

    @classmethod
    def from_model(cls, model: "nn.Module") -> "SearchSpace":
        """The space of a model with mutables (keys bound from module paths)."""
        if not _READER:  # raynas.core.mutables was never imported: the model holds no mutable
            if not callable(getattr(model, "named_modules", None)):
                raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
            return cls([])
        return _model_reader().space_of(model)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    @property
    def size(self) -> int:
        """Number of distinct (canonical) genomes, i.e. of distinct models."""
        if self._size is None:
            if not self._gates:
                self._size = math.prod(d.size for d in self.dimensions)
            else:
                others = [d for d in self.dimensions if d.key not in self._gates]
                self._size = sum(
                    math.prod(d.size for d in others if self.is_active(d.key, gates))
                    for gates in self._gate_genomes())
        return self._size

    def _gate_genomes(self) -> list[Genome]:
        """The distinct canonical assignments of the depth keys, in a fixed order."""
        dims = [self._by_key[k] for k in self._gates]
        seen: dict[str, Genome] = {}
        for combo in itertools.product(*[d.choices for d in dims]):
            gates = self.canonical_gates(dict(zip(self._gates, combo)))
            seen.setdefault(self.genome_id(gates), gates)
        return list(seen.values())

    def canonical_gates(self, gates: Mapping[str, Any]) -> Genome:
        """Canonical form of an assignment of the depth keys alone (an inner Repeat's depth
        is inactive when its outer block is left out)."""
        out = dict(gates)
        for key in self._gates:
            d = self._by_key[key]
            if d.when and not self.is_active(key, gates):
                out[key] = d.default()
        return out

    def __len__(self) -> int:
        return len(self.dimensions)

    def __getitem__(self, key: str) -> Dimension:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"unknown key {key!r}; known keys: {self.keys}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dimensions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.dimensions == other.dimensions

    def __hash__(self) -> int:
        return hash(self.dimensions)

    def __repr__(self) -> str:
        return f"SearchSpace(keys={self.keys}, size={self.size})"

    def sample(self, seed: SeedLike = None) -> Genome:
        """A uniformly random genome; the same int seed gives the same genome."""
        rng = make_rng(seed)
        return self.canonical({d.key: d.sample(rng) for d in self.dimensions})

    def default(self) -> Genome:
        """The supernet's default genome (first candidates, all inputs)."""
        return {d.key: d.default() for d in self.dimensions}

    def validate(self, genome: Mapping[str, Any]) -> Genome:
        """Check a genome and return its canonical form.

        Raises ``ValueError`` for a missing key, an unknown key or an invalid decision,
        naming the key, the value received and the valid choices. Accepts NNI v1 forms
        (names, indices, boolean masks). A decision that the genome's depths leave out (a
        block not built) may be missing; it is set to its canonical value, the default.
        """
        if not isinstance(genome, Mapping):
            raise ValueError(f"a genome must be a mapping {{key: decision}}, got {type(genome).__name__}")
        genome = self._expand_nni_names(genome)
        genome = self._expand_scope_aliases(genome)
        unknown = [k for k in genome if k not in self._by_key]
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in genome; valid keys: {self.keys}")
        missing = [k for k in self.keys if k not in genome]
        given = {k: self._by_key[k].normalize(v) for k, v in genome.items()}
        if missing and self._gates:  # an inactive decision may be left out
            full = self.canonical({**{k: self._by_key[k].default() for k in missing}, **given})
            missing = [k for k in missing if self.is_active(k, full)]
        if missing:
            details = "; ".join(f"{k!r}: {self._by_key[k].describe()}" for k in missing)
            raise ValueError(f"genome misses key(s) {missing}; expected {details}")
        return self.canonical({d.key: given[d.key] if d.key in given else d.default()
                               for d in self.dimensions})

    def _expand_nni_names(self, genome: Mapping[str, Any]) -> Mapping[str, Any]:
        """NNI v1 names a mutable without a key by a counter (``LayerChoice1``); map such
        names to this space's keys through :attr:`aliases`."""
        named = [k for k in genome if k not in self._by_key and k in self.aliases]
        if not named:
            return genome
        expanded = dict(genome)
        for alias in named:
            key = self.aliases[alias]
            if key in genome:
                raise ValueError(f"the genome names key {key!r} twice: as {key!r} and as its NNI "
                                 f"name {alias!r}; keep one of them")
            expanded[key] = expanded.pop(alias)
        return expanded

    def _expand_scope_aliases(self, genome: Mapping[str, Any]) -> Mapping[str, Any]:
        """NNI v1 keeps explicit keys global; here a MutableScope prefixes them
        (``cell1/op``). A key the space lacks that ends one or more scoped keys (``op``)
        sets each of them, unless the genome names them itself."""
        aliases = [k for k in genome if k not in self._by_key and "/" not in str(k)]
        if not aliases:
            return genome
        expanded = dict(genome)
        for alias in aliases:
            targets = [key for key in self.keys if key.rsplit("/", 1)[-1] == alias and "/" in key]
            if targets and not any(t in genome for t in targets):
                del expanded[alias]
                expanded.update({t: genome[alias] for t in targets})
        return expanded

    def genomes(self) -> Iterator[Genome]:
        """Every distinct (canonical) genome of the space, in a fixed order (use on small
        spaces)."""
        if not self._gates:
            per_key = [list(d.decisions()) for d in self.dimensions]
            for combo in itertools.product(*per_key):
                yield {d.key: value for d, value in zip(self.dimensions, combo)}
            return
        others = [d for d in self.dimensions if d.key not in self._gates]
        for gates in self._gate_genomes():
            per_key = [list(d.decisions()) if self.is_active(d.key, gates) else [d.default()]
                       for d in others]
            for combo in itertools.product(*per_key):
                decided = {**gates, **{d.key: v for d, v in zip(others, combo)}}
                yield {d.key: decided[d.key] for d in self.dimensions}

    @staticmethod
    def genome_id(genome: Mapping[str, Any]) -> str:
        """The canonical text of a (validated) genome: equal genomes, equal ids. It is also
        the ``genome`` column of a run's rows (keys sorted, ``json.dumps``' default spacing)."""
        return json.dumps(dict(genome), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": "raynas.core.space/1",
                                "dimensions": [d.to_dict() for d in self.dimensions]}
        if self.aliases:
            data["aliases"] = dict(self.aliases)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchSpace":
        if not isinstance(data, Mapping) or data.get("format") != "raynas.core.space/1":
            raise ValueError("not a raynas search space: expected a JSON object with "
                             "\"format\": \"raynas.core.space/1\"")
        dims = data.get("dimensions")
        if not isinstance(dims, list):
            raise ValueError(f"\"dimensions\" must be a list, got {type(dims).__name__}")
        aliases = data.get("aliases")
        if aliases is not None and (not isinstance(aliases, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())):
            raise ValueError(f"\"aliases\" must map strings to keys, got {aliases!r}")
        return cls([Dimension.from_dict(d) for d in dims], aliases=aliases)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "SearchSpace":
        return cls.from_dict(json.loads(text))

    def apply(self, model: "nn.Module", genome: Mapping[str, Any]) -> None:
        """Set the supernet's current choice to ``genome`` (validated), in place."""
        _model_reader().apply(model, self, self.validate(genome))
