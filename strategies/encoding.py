"""Genomes as integer codes and one-hot rows: the vector form strategies compute on.

A *code* is one int per dimension of the space, in space order:

* a ``layer`` or ``value`` dimension stores the index of the chosen candidate;
* an ``input`` dimension stores a bit mask of the chosen candidates (bit ``i`` = candidate ``i``).

Codes are canonical: in a space with ``Repeat`` depths, a decision that the code's depths leave
out holds its default (index 0, or the default inputs), so equal models have equal codes.

Codes are stored as ``numpy.int64`` rows; an InputChoice may therefore have at most 62
candidates. :meth:`Encoding.key` turns a code into a hashable key (equal genomes, equal keys)
for deduplication. Imports numpy and the space description only.
"""

from __future__ import annotations

import math
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from raynas.core.space import INPUT, Genome, SearchSpace

#: Spaces up to this many genomes may be enumerated to find the last unseen genomes.
ENUMERATION_LIMIT = 2 ** 18
_MAX_INPUT_CANDIDATES = 62
#: Chance that a mutation of a numeric value choice moves to a neighbouring value.
NEIGHBOUR_PROBABILITY = 0.75


class Encoding:
    """The code and feature form of the genomes of one :class:`SearchSpace`.

    ``n_features`` one-hot features: one per candidate of every dimension (a LayerChoice
    sets exactly one of its block, an InputChoice one per chosen input).
    """

    def __init__(self, space: SearchSpace):
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a raynas SearchSpace, got {type(space).__name__}; "
                            f"build one with SearchSpace([...]) or SearchSpace.from_model(model)")
        if len(space) == 0:
            raise ValueError("the search space has no dimensions; a strategy needs at least one "
                             "LayerChoice or InputChoice")
        self.space = space
        self.keys: list[str] = space.keys
        self.n_dims = len(space)
        self.n_choices = np.array([len(d.choices) for d in space.dimensions], dtype=np.int64)
        # index-coded dimensions: LayerChoices and value choices
        self.is_layer = np.array([d.kind != INPUT for d in space.dimensions])
        self.layer_dims = np.flatnonzero(self.is_layer)
        self.input_dims = np.flatnonzero(~self.is_layer)
        for d in space.dimensions:
            if d.kind == INPUT and len(d.choices) > _MAX_INPUT_CANDIDATES:
                raise ValueError(
                    f"dimension {d.key!r}: strategies support InputChoices with at most "
                    f"{_MAX_INPUT_CANDIDATES} candidates, got {len(d.choices)}; split the "
                    f"choice into several InputChoices")
        self.n_chosen: list[int | None] = [d.n_chosen for d in space.dimensions]
        self.offsets = np.concatenate([[0], np.cumsum(self.n_choices)[:-1]]).astype(np.int64)
        self.n_features = int(self.n_choices.sum())
        self._index = [{c: i for i, c in enumerate(d.choices)} for d in space.dimensions]
        self._choices = [d.choices for d in space.dimensions]
        radix = [len(d.choices) if d.kind != INPUT else 2 ** len(d.choices)
                 for d in space.dimensions]
        self._radix = radix
        self._int_keys = math.prod(radix) < 2 ** 62
        self._strides = np.array([math.prod(radix[:i]) for i in range(len(radix))]
                                 if self._int_keys else [0] * len(radix), dtype=np.int64)
        self._py_strides = [int(s) for s in self._strides]
        self.size = space.size
        # dimensions with more than one decision: the only ones a mutation can change
        self.mutable_dims = np.array([i for i, d in enumerate(space.dimensions) if d.size > 1],
                                     dtype=np.int64)
        self._bit_ranges = {int(i): np.arange(self.n_choices[i], dtype=np.int64)
                            for i in self.input_dims}
        self._all: np.ndarray | None = None
        self._init_ordered()
        self._init_conditions()

    def _init_ordered(self) -> None:
        """Numeric value choices (more than two candidates): each candidate's neighbours in
        value order, ``_near[dim, code]`` (the one neighbour twice at either end), and how many
        there are, ``_near_count[dim, code]``."""
        numeric = [(i, d) for i, d in enumerate(self.space.dimensions)
                   if d.numeric and len(d.choices) > 2]
        width = max((len(d.choices) for _, d in numeric), default=0)
        self._near = np.zeros((self.n_dims, width, 2), dtype=np.int64)
        self._near_count = np.ones((self.n_dims, width), dtype=np.int64)
        for i, d in numeric:
            order = sorted(range(len(d.choices)), key=lambda j: d.choices[j])
            for r, j in enumerate(order):
                near = [order[s] for s in (r - 1, r + 1) if 0 <= s < len(order)]
                self._near[i, j] = [near[0], near[-1]]
                self._near_count[i, j] = len(near)
        self.is_ordered = np.zeros(self.n_dims, dtype=bool)
        self.is_ordered[[i for i, _ in numeric]] = True

    def _init_conditions(self) -> None:
        """Conditional dimensions (``Dimension.when``) as lookups over the depth codes."""
        position = {key: i for i, key in enumerate(self.keys)}
        self._default_code = np.array(
            [0 if d.kind != INPUT else sum(1 << self._index[i][c] for c in d.default())
             for i, d in enumerate(self.space.dimensions)], dtype=np.int64)
        self._gated: list[tuple[int, list[list[tuple[int, np.ndarray]]]]] = []
        for j, d in enumerate(self.space.dimensions):
            if d.when:
                clauses = [[(position[gate], np.array([c >= count for c in self._choices[
                    position[gate]]])) for gate, count in clause] for clause in d.when]
                self._gated.append((j, clauses))

    def active(self, codes: np.ndarray) -> np.ndarray:
        """Which decisions of each code shape its model, shape ``(n, n_dims)`` (bool)."""
        codes = np.atleast_2d(codes)
        out = np.ones(codes.shape, dtype=bool)
        for j, clauses in self._gated:
            on = np.zeros(len(codes), dtype=bool)
            for clause in clauses:
                holds = np.ones(len(codes), dtype=bool)
                for g, table in clause:
                    holds &= table[codes[:, g]]
                on |= holds
            out[:, j] = on
        return out

    def canonical(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` (shape ``(n, n_dims)``, changed in place and returned) with every inactive
        decision at its default code."""
        if self._gated and len(codes):
            off = ~self.active(codes)
            codes[off] = np.broadcast_to(self._default_code, codes.shape)[off]
        return codes

    # ------------------------------------------------------------------ genomes <-> codes
    def encode(self, genome: Mapping[str, Any]) -> tuple[int, ...]:
        """The code of a genome; ``ValueError`` (from ``space.validate``) if it is invalid.

        Canonical genomes take a fast path; other accepted forms (indices, masks) go through
        ``SearchSpace.validate``.
        """
        try:
            if len(genome) == self.n_dims:
                code = self._encode_canonical(genome)
                if not self._gated:
                    return code
                return tuple(int(c) for c in self.canonical(np.array([code], dtype=np.int64))[0])
        except (KeyError, TypeError, ValueError):
            pass
        if isinstance(genome, Mapping):  # e.g. list columns read back from Parquet by pandas
            genome = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in genome.items()}
        return self._encode_canonical(self.space.validate(genome))

    def _encode_canonical(self, genome: Mapping[str, Any]) -> tuple[int, ...]:
        code = []
        for i, key in enumerate(self.keys):
            decision = genome[key]
            index = self._index[i]
            if self.is_layer[i]:
                if decision is True or decision is False:  # True == 1: not a value choice's 1
                    raise TypeError
                code.append(index[decision])
                continue
            if not isinstance(decision, (list, tuple)):
                raise TypeError
            mask, last = 0, -1
            for name in decision:
                j = index[name]
                if j <= last:  # canonical: candidate order, no repeats
                    raise ValueError
                mask |= 1 << j
                last = j
            n_chosen = self.n_chosen[i]
            if n_chosen is not None and len(decision) != n_chosen:
                raise ValueError
            code.append(mask)
        return tuple(code)

    def decode(self, code: Sequence[int] | np.ndarray) -> Genome:
        """The (canonical) genome of a code."""
        genome: Genome = {}
        for i, (key, value) in enumerate(zip(self.keys, [int(v) for v in code])):
            choices = self._choices[i]
            if self.is_layer[i]:
                genome[key] = choices[value]
            else:
                genome[key] = [c for j, c in enumerate(choices) if value >> j & 1]
        return genome

    def key(self, code: Sequence[int]) -> Hashable:
        """A hashable key of a code: equal genomes, equal keys."""
        if self._int_keys:
            return sum(int(c) * s for c, s in zip(code, self._py_strides))
        return tuple(int(c) for c in code)

    def code_of_key(self, key: Hashable) -> tuple[int, ...]:
        """The code a :meth:`key` was made from."""
        if not self._int_keys:
            return tuple(key)  # type: ignore[arg-type]
        code, rest = [], int(key)  # type: ignore[call-overload]
        for radix in self._radix:
            rest, digit = divmod(rest, radix)
            code.append(digit)
        return tuple(code)

    def keys_of(self, codes: np.ndarray) -> list[Hashable]:
        """:meth:`key` of every row of ``codes`` (shape ``(n, n_dims)``)."""
        if self._int_keys:
            return (codes @ self._strides).tolist()
        return [tuple(row) for row in codes.tolist()]

    # ------------------------------------------------------------------ random codes
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniformly random codes, shape ``(n, n_dims)``."""
        codes = np.empty((n, self.n_dims), dtype=np.int64)
        if len(self.layer_dims):
            codes[:, self.layer_dims] = rng.integers(0, self.n_choices[self.layer_dims],
                                                     size=(n, len(self.layer_dims)))
        for i in self.input_dims:
            codes[:, i] = self._sample_masks(rng, int(i), n)
        return self.canonical(codes)

    def _sample_masks(self, rng: np.random.Generator, i: int, n: int) -> np.ndarray:
        m, k = int(self.n_choices[i]), self.n_chosen[i]
        if k is None:
            return rng.integers(0, 2 ** m, size=n, dtype=np.int64)
        picked = np.argsort(rng.random((n, m)), axis=1)[:, :k]
        return (np.int64(1) << picked).sum(axis=1, dtype=np.int64) if k else np.zeros(n, np.int64)

    def mutate(self, rng: np.random.Generator, parent: np.ndarray, n: int,
               n_decisions: int = 1) -> np.ndarray:
        """``n`` mutants of ``parent``, each with ``n_decisions`` distinct decisions changed.

        A LayerChoice or a non-numeric value choice moves to a different candidate, uniformly.
        A numeric value choice (ordered) moves to a neighbouring value, the next smaller or
        larger candidate with equal chance, with probability :data:`NEIGHBOUR_PROBABILITY`,
        else to any other candidate uniformly (a choice of two candidates has only the other).
        An InputChoice with ``n_chosen=None`` gains or loses one input; with a fixed
        ``n_chosen`` it swaps one chosen input for an unchosen one. Only dimensions with more
        than one decision that shape the parent's model change (not those of blocks its depth
        leaves out); a depth that grows adds blocks at their default decisions. In a space
        with a single genome the mutants equal the parent.
        """
        parent = np.asarray(parent, dtype=np.int64)
        codes = np.repeat(parent[None, :], n, axis=0)
        candidates = self.mutable_dims
        if self._gated:
            candidates = candidates[self.active(parent)[0][candidates]]
        n_mutable = len(candidates)
        if n_mutable == 0 or n == 0:
            return codes
        k = min(max(1, int(n_decisions)), n_mutable)
        if k == 1:
            picks = candidates[rng.integers(0, n_mutable, size=(n, 1))]
        else:
            picks = candidates[np.argsort(rng.random((n, n_mutable)), axis=1)[:, :k]]
        rows = np.arange(n)
        for col in range(k):
            dims = picks[:, col]
            layer = self.is_layer[dims]
            if layer.any():
                r, d = rows[layer], dims[layer]
                step = rng.integers(1, self.n_choices[d])
                codes[r, d] = (codes[r, d] + step) % self.n_choices[d]
                ordered = self.is_ordered[d]
                if ordered.any():
                    r, d = r[ordered], d[ordered]
                    # a neighbour with probability NEIGHBOUR_PROBABILITY, each side alike
                    to_near = rng.random(len(d)) < NEIGHBOUR_PROBABILITY
                    side = (rng.random(len(d)) * self._near_count[d, parent[d]]).astype(np.int64)
                    r, d, side = r[to_near], d[to_near], side[to_near]
                    codes[r, d] = self._near[d, parent[d], side]
            if not layer.all():
                for r, d in zip(rows[~layer].tolist(), dims[~layer].tolist()):
                    codes[r, d] = self._mutate_mask(rng, d, int(codes[r, d]))
        return self.canonical(codes)

    def _mutate_mask(self, rng: np.random.Generator, i: int, mask: int) -> int:
        m = int(self.n_choices[i])
        if self.n_chosen[i] is None:
            return mask ^ (1 << int(rng.integers(m)))
        chosen = [j for j in range(m) if mask >> j & 1]
        free = [j for j in range(m) if not mask >> j & 1]
        out, into = chosen[int(rng.integers(len(chosen)))], free[int(rng.integers(len(free)))]
        return mask ^ (1 << out) ^ (1 << into)

    # ------------------------------------------------------------------ features
    def features(self, codes: np.ndarray) -> np.ndarray:
        """One-hot rows, shape ``(n, n_features)`` (float64)."""
        n = len(codes)
        out = np.zeros((n, self.n_features))
        if len(self.layer_dims):
            cols = codes[:, self.layer_dims] + self.offsets[self.layer_dims]
            out[np.arange(n)[:, None], cols] = 1.0
        for i in self.input_dims:
            off, bits = int(self.offsets[i]), self._bit_ranges[int(i)]
            out[:, off:off + len(bits)] = (codes[:, i:i + 1] >> bits) & 1
        return out

    # ------------------------------------------------------------------ enumeration
    def all_codes(self) -> np.ndarray | None:
        """Every code of the space (cached), or ``None`` above :data:`ENUMERATION_LIMIT`."""
        if self.size > ENUMERATION_LIMIT:
            return None
        if self._all is None and self._gated:
            self._all = np.array([self._encode_canonical(g) for g in self.space.genomes()],
                                 dtype=np.int64)
        if self._all is None:
            columns = []
            for i, d in enumerate(self.space.dimensions):
                if d.kind != INPUT:
                    columns.append(np.arange(len(d.choices), dtype=np.int64))
                else:
                    columns.append(np.array(
                        [sum(1 << self._index[i][c] for c in dec) for dec in d.decisions()],
                        dtype=np.int64))
            grids = np.meshgrid(*columns, indexing="ij")
            self._all = np.stack([g.ravel() for g in grids], axis=1)
        return self._all

    def fresh(self, rng: np.random.Generator, seen: set | dict, tries: int = 64) -> np.ndarray | None:
        """A uniformly random code whose key is not in ``seen``, or ``None`` if none is left.

        Draws one random code, then ``tries`` more; then enumerates the space when it is small enough,
        else keeps drawing (a space too large to enumerate cannot be nearly all seen).
        """
        if len(seen) >= self.size:
            return None
        for n in (1, tries):
            codes = self.sample(rng, n)
            for code, key in zip(codes, self.keys_of(codes)):
                if key not in seen:
                    return code
        every = self.all_codes()
        if every is not None:
            unseen = [i for i, key in enumerate(self.keys_of(every)) if key not in seen]
            if not unseen:
                return None
            return every[unseen[int(rng.integers(len(unseen)))]].copy()
        for _ in range(10_000):  # pragma: no cover - needs > 2**18 genomes nearly all seen
            codes = self.sample(rng, tries)
            for code, key in zip(codes, self.keys_of(codes)):
                if key not in seen:
                    return code
        raise RuntimeError(  # pragma: no cover
            f"found no unseen genome in {10_000 * tries} random draws although "
            f"{self.size - len(seen)} of {self.size} genomes are unseen; pass dedup=False")
