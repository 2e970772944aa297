"""The strategy contract: a pure ask/tell object over the genomes of a :class:`SearchSpace`.

A driver loops ``genome = s.ask()`` → run the trial → ``s.tell(genome, value)``, with any
number of asks outstanding and results told in any order. Contract shared by every strategy:

* ``ask() -> genome | None``: a canonical genome (``space.validate(g) == g``). With ``dedup``
  a genome is proposed at most once per run (proposed or told counts). When no unseen genome
  is left, ``ask()`` returns ``None`` while results are pending and raises
  :class:`SpaceExhausted` once none are: the search has covered the whole space.
* Once exhausted: a driver that must still make trials (a run asked for more trials than the
  space has genomes) calls ``reevaluate()``: a known genome to evaluate again (with a new
  trial seed), drawn uniformly from the genomes proposed or told so far with the strategy's
  own generator. It counts as an ask (pending until told); its ``last_parent`` is ``None``.
* ``objectives``: a mapping of metric name to ``"max"`` or ``"min"``, in priority order
  (default ``{"accuracy": "max"}``; ``mode="min"`` is short for ``{"accuracy": "min"}``).
* ``tell(genome, result)``: with one objective ``result`` is the trial's metric (a float) or a
  mapping ``{metric: float}``; with several it is a mapping naming every objective (extra or
  missing metrics are errors). ``None``, or a non-finite number (NaN, ±inf) for any objective,
  marks a failed trial. A genome that was never asked may be told (it joins the history as an
  extra result). ``history`` gives results back in the form ``tell`` takes: floats with one
  objective, ``{metric: float}`` mappings with several.
* Multi-fidelity: ``tell(genome, value, fidelity=epochs)`` tells a result measured at a
  fidelity (the epochs a trial trained; an early-stopping scheduler stops most trials before
  the full budget). ``None`` (the default) is the full fidelity. Results are ordered by
  :func:`fidelity_key`: a result of higher fidelity ranks above any of lower fidelity, and
  results of equal fidelity rank by value. Under successive halving (ASHA, HyperBand) a trial
  reaches a higher rung only by beating its rung's cut, so this order is the schedulers' own
  promotion order; and a stopped trial can never outrank a full-fidelity one. ``best()`` and
  the strategies' selection use it.
* Lineage: after ``ask()``, ``last_parent`` is the genome the proposal was derived from (a
  mutation's parent), or ``None`` for a random genome; ``parent_of(g)`` answers the same for any
  proposed genome (its latest proposal). A driver maps it to the parent's trial with
  ``SearchSpace.genome_id``.
* Determinism: every random draw comes from the strategy's own ``numpy`` generator seeded by
  ``seed``; the same seed and the same results give the same genomes, also after pickling, in
  another process, and after ``state_dict()``/``load_state_dict()``.
* ``state_dict()`` is JSON-able (generator state included); ``replay(history)`` (or the
  classmethod ``from_history``) rebuilds the state of a fresh strategy from ``[(genome, value),
  ...]`` (or ``(genome, value, fidelity)`` triples) in tell order, as if each genome had been
  asked then told: that is how a restarted driver resumes from its results log. Replay
  consumes no randomness.

Strategies import numpy and the space description only: no ray, no torch.
"""

from __future__ import annotations

import json
import math
import numbers
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Hashable, Iterable, Mapping, Sequence

import numpy as np

from raynas.core.space import Genome, SearchSpace, SeedLike, make_rng
from raynas.strategies.encoding import Encoding

MODES = ("max", "min")
DEFAULT_OBJECTIVES: dict[str, str] = {"accuracy": "max"}
Result = tuple[float, ...]
STATE_FORMAT = "raynas.strategy/1"
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class SpaceExhausted(StopIteration):
    """Every genome of the space has been proposed (``dedup=True``) and no result is pending.

    A ``StopIteration`` so that a driver loop can treat it as the end of the proposals.
    """


class Strategy(ABC):
    """Base class of the search strategies (see the module docstring for the contract).

    Subclasses implement :meth:`_propose` and may extend :meth:`_observe`, :meth:`_reset`
    and :meth:`config`.
    """

    name: ClassVar[str] = ""

    def __init__(self, space: SearchSpace, seed: SeedLike = None, mode: str | None = None,
                 budget: int | None = None, dedup: bool = True,
                 objectives: Mapping[str, str] | None = None):
        self.objectives = resolve_objectives(objectives, mode)
        self.metrics: tuple[str, ...] = tuple(self.objectives)
        self.n_objectives = len(self.metrics)
        self._signs = np.array([1.0 if d == "max" else -1.0 for d in self.objectives.values()])
        mode = next(iter(self.objectives.values())) if self.n_objectives == 1 else None
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, numbers.Integral)
                                   or budget < 1):
            raise ValueError(
                f"budget must be a positive int (the number of trials the run will make) or "
                f"None, got {budget!r}")
        self.space = space
        self._enc = Encoding(space)
        self.mode = mode
        self.budget = None if budget is None else int(budget)
        self.dedup = bool(dedup)
        self._sign = 1.0 if mode != "min" else -1.0
        self._rng = make_rng(seed)
        self._clear()

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _propose(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(code, parent_code)`` of the next proposal; ``code`` is ``None`` when no
        (unseen, with dedup) genome is left; ``parent_code`` is ``None`` for a random one."""

    def _observe(self, code: tuple[int, ...], score: Any, fidelity: int | None = None) -> None:
        """A result arrived: ``score`` is the value signed so that higher is better (a float
        with one objective, a tuple of floats in ``metrics`` order with several), or ``None``
        for a failed trial; ``fidelity`` as told (compare with :func:`fidelity_key`)."""

    def _reset(self) -> None:
        """Forget everything learned from results (called before rebuilding state)."""

    def config(self) -> dict[str, Any]:
        """The resolved settings that shape the search (JSON-able); a state loads only into a
        strategy with equal settings."""
        return {"mode": self.mode, "objectives": dict(self.objectives), "dedup": self.dedup}

    # ------------------------------------------------------------------ the protocol
    def ask(self) -> Genome | None:
        """The next genome to evaluate; ``None`` if nothing can be proposed until a pending
        result arrives. Raises :class:`SpaceExhausted` when every genome has been proposed."""
        code, parent = self._propose()
        if code is None:
            self._last_parent = None
            if self._pending:
                return None
            raise SpaceExhausted(
                f"every one of the {self.space.size} genomes of the space has been proposed "
                f"(dedup=True) and no result is pending; the search is complete (pass "
                f"dedup=False to re-evaluate genomes)")
        key = self._enc.key(code)
        self._seen[key] = None
        self._pending[key] = self._pending.get(key, 0) + 1
        self.n_asked += 1
        parent_code = None if parent is None else tuple(np.asarray(parent).tolist())
        if parent_code is not None:
            self._parents[key] = parent_code
        self._last_parent = parent_code
        return self._enc.decode(code)

    def reevaluate(self) -> Genome:
        """A known genome to evaluate again once :meth:`ask` raised :class:`SpaceExhausted`
        (see the module docstring). A genome whose every told result failed (``None``: a
        deterministic error, a rejection) is not chosen again. ``ValueError`` when no genome
        is known yet; :class:`SpaceExhausted` when every known genome failed."""
        if not self._seen:
            raise ValueError("reevaluate() needs a genome proposed or told before; call ask() "
                             "first")
        known = self._reevaluable()
        if not known:
            raise SpaceExhausted(
                f"every genome proposed so far ({len(self._seen)}) failed each time it was "
                f"evaluated; none is worth evaluating again")
        key = known[int(self._rng.integers(len(known)))]
        self._pending[key] = self._pending.get(key, 0) + 1
        self.n_asked += 1
        self._last_parent = None
        return self._enc.decode(self._code_of_key(key))

    def _reevaluable(self) -> list[Any]:
        """Keys of the known genomes, in the order first seen, less those told only as
        failed (kept between calls while no genome is seen and no failure changes)."""
        token = (len(self._seen), self._failed_changes)
        if self._reevaluable_token != token:
            self._reevaluable_keys = [key for key in self._seen if key not in self._failed_only]
            self._reevaluable_token = token
        return self._reevaluable_keys

    def _record(self, key: Hashable, code: tuple[int, ...], result: Result | None,
                fidelity: int | None) -> None:
        """Append a told result to the history (and to the failed-only bookkeeping)."""
        self._history.append((code, result))
        self._fidelities.append(fidelity)
        if result is not None:
            self._succeeded.add(key)
            if key in self._failed_only:
                self._failed_only.discard(key)
                self._failed_changes += 1
        elif key not in self._succeeded and key not in self._failed_only:
            self._failed_only.add(key)
            self._failed_changes += 1

    def tell(self, genome: Mapping[str, Any],
             value: float | Mapping[str, float | None] | None,
             fidelity: int | None = None) -> None:
        """Report the result of ``genome``: its metric (one objective) or a mapping of every
        objective's metric to its value; ``None`` (or NaN) for a failed trial; ``fidelity``:
        the epochs it trained when stopped early (``None``: full fidelity)."""
        code = self._enc.encode(genome)
        result = self._as_result(value)
        fidelity = _as_fidelity(fidelity)
        key = self._enc.key(code)
        count = self._pending.get(key)
        if count is not None:
            if count > 1:
                self._pending[key] = count - 1
            else:
                del self._pending[key]
        self._seen[key] = None
        self._record(key, code, result, fidelity)
        self._observe(code, self._signed(result), fidelity)

    def _signed(self, result: Result | None) -> Any:
        if result is None:
            return None
        if self.n_objectives == 1:
            return self._sign * result[0]
        return tuple(float(s * v) for s, v in zip(self._signs, result))

    def _as_result(self, value: Any) -> Result | None:
        """A told result as a tuple in ``metrics`` order, or ``None`` for a failed trial."""
        if value is None:
            return None
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in self.objectives]
            missing = [k for k in self.metrics if k not in value]
            if unknown or missing:
                what = (f"unknown metric {unknown[0]!r}" if unknown
                        else f"missing metric {missing[0]!r}")
                raise ValueError(
                    f"tell: {what} in the result {dict(value)!r}; this strategy's objectives "
                    f"are {_describe(self.objectives)}; tell a mapping with exactly these "
                    f"metrics (None for a failed trial)")
            values = [_as_value(value[k], k) for k in self.metrics]
            return None if any(v is None for v in values) else tuple(values)  # type: ignore[misc]
        if self.n_objectives > 1:
            raise TypeError(
                f"tell: with several objectives ({_describe(self.objectives)}) the result must be "
                f"a mapping of metric to value, got {value!r} ({type(value).__name__}); e.g. "
                f"tell(genome, {{{', '.join(f'{k!r}: ...' for k in self.metrics)}}})")
        single = _as_value(value)
        return None if single is None else (single,)

    def _public(self, result: Result | None) -> float | dict[str, float] | None:
        """A stored result in the form ``tell`` takes."""
        if result is None:
            return None
        if self.n_objectives == 1:
            return result[0]
        return dict(zip(self.metrics, result))

    def replay(self, history: Iterable[tuple[Any, ...]]) -> "Strategy":
        """Rebuild state from ``(genome, value)`` pairs or ``(genome, value, fidelity)``
        triples in tell order, as if each genome had been asked then told (no randomness
        consumed); returns ``self``."""
        for item in history:
            try:
                genome, value, *rest = item
                if len(rest) > 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"history items must be (genome, value) pairs or (genome, "
                                 f"value, fidelity) triples, got {item!r}") from None
            code = self._enc.encode(genome)
            self._seen[self._enc.key(code)] = None
            self.n_asked += 1
            self.tell(genome, value, *rest)
        return self

    @classmethod
    def from_history(cls, space: SearchSpace,
                     history: Iterable[tuple[Mapping[str, Any], float | None]],
                     **kwargs: Any) -> "Strategy":
        """A new strategy (``cls(space, **kwargs)``) that has replayed ``history``."""
        return cls(space, **kwargs).replay(history)

    # ------------------------------------------------------------------ lineage
    @property
    def last_parent(self) -> Genome | None:
        """The parent genome of the last proposal, ``None`` if it was a random genome."""
        return None if self._last_parent is None else self._enc.decode(self._last_parent)

    def parent_of(self, genome: Mapping[str, Any] | str) -> Genome | None:
        """The parent genome of a proposed genome (given as a genome or its genome id), or
        ``None`` if it was random or never proposed."""
        if isinstance(genome, str):
            genome = _loads(genome)
        parent = self._parents.get(self._enc.key(self._enc.encode(genome)))
        return None if parent is None else self._enc.decode(parent)

    def _id_of(self, code: Sequence[int]) -> str:
        return SearchSpace.genome_id(self._enc.decode(code))

    # ------------------------------------------------------------------ introspection
    @property
    def history(self) -> list[tuple[Genome, float | None]]:
        """Every told ``(genome, value)`` in tell order (``None`` for failed trials)."""
        return [(self._enc.decode(code), self._public(value)) for code, value in self._history]

    @property
    def fidelities(self) -> list[int | None]:
        """The fidelity told with each result of :attr:`history` (``None``: full)."""
        return list(self._fidelities)

    @property
    def n_pending(self) -> int:
        """Number of asked genomes whose result has not been told."""
        return sum(self._pending.values())

    def best(self) -> tuple[Genome, float] | None:
        """The best told ``(genome, value)`` (first of equals) in :func:`fidelity_key` order
        (the highest fidelity first), ``None`` before any success.

        With several objectives: the best by the first objective (its value; see
        :meth:`pareto_front` for the trade-offs)."""
        best = best_key = None
        sign = self._signs[0]
        for (code, result), fidelity in zip(self._history, self._fidelities):
            if result is None:
                continue
            key = fidelity_key(sign * result[0], fidelity)
            if best_key is None or key > best_key:
                best, best_key = (code, result[0]), key
        return None if best is None else (self._enc.decode(best[0]), best[1])

    def pareto_front(self) -> list[tuple[Genome, float | dict[str, float]]]:
        """The told ``(genome, result)`` pairs no other told result dominates, in tell order
        (a genome told several times appears once, with its first non-dominated result)."""
        from raynas.strategies.pareto import non_dominated

        done = [(code, r) for code, r in self._history if r is not None]
        if not done:
            return []
        points = -np.array([r for _, r in done]) * self._signs
        front, keys = [], set()
        for (code, result), keep in zip(done, non_dominated(points)):
            key = self._enc.key(code)
            if keep and key not in keys:
                keys.add(key)
                front.append((self._enc.decode(code), self._public(result)))
        return front

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (see :meth:`load_state_dict`)."""
        decode = self._enc.decode
        pending = [decode(self._code_of_key(k)) for k, n in self._pending.items() for _ in range(n)]
        return {
            "format": STATE_FORMAT,
            "strategy": type(self).__name__,
            "space": self.space.to_dict(),
            "config": self.config(),
            "budget": self.budget,
            "rng": _rng_state_to_json(self._rng),
            "n_asked": self.n_asked,
            "seen": [decode(self._code_of_key(k)) for k in self._seen],
            "pending": pending,
            "history": [[decode(code), self._public(value)] for code, value in self._history],
            "fidelities": list(self._fidelities),
            "parents": {SearchSpace.genome_id(decode(self._code_of_key(k))): self._id_of(p)
                        for k, p in self._parents.items()},
            "last_parent": self.last_parent,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` saved by a strategy of the same class, space and
        settings; the generator continues where it was."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a raynas strategy state: expected a mapping with "
                             f"\"format\": {STATE_FORMAT!r}")
        if state.get("strategy") != type(self).__name__:
            raise ValueError(f"this state belongs to strategy {state.get('strategy')!r}, not "
                             f"{type(self).__name__!r}; load it into a {state.get('strategy')}")
        if SearchSpace.from_dict(state["space"]) != self.space:
            raise ValueError("this state was saved over a different search space; build the "
                             "strategy over the space the run used")
        saved, mine = dict(state["config"]), self.config()
        if saved != mine:
            diff = {k: (saved.get(k), mine.get(k)) for k in sorted(set(saved) | set(mine))
                    if saved.get(k) != mine.get(k)}
            raise ValueError(
                "this state was saved with other settings: "
                + ", ".join(f"{k}={a!r} (this strategy: {b!r})" for k, (a, b) in diff.items())
                + "; construct the strategy with the saved settings")
        self._clear()
        encode, key = self._enc.encode, self._enc.key
        fidelities = state.get("fidelities") or [None] * len(state["history"])
        for (genome, value), fidelity in zip(state["history"], fidelities):
            code = encode(genome)
            result = self._as_result(value)
            self._record(key(code), code, result, fidelity)
            self._observe(code, self._signed(result), fidelity)
        for genome in state["seen"]:
            self._seen[key(encode(genome))] = None
        for genome in state["pending"]:
            k = key(encode(genome))
            self._pending[k] = self._pending.get(k, 0) + 1
        for child, parent in state["parents"].items():
            self._parents[key(encode(_loads(child)))] = encode(_loads(parent))
        last = state.get("last_parent")
        self._last_parent = None if last is None else encode(last)
        self.n_asked = int(state["n_asked"])
        self._rng = _rng_from_json(state["rng"])

    # ------------------------------------------------------------------ helpers
    def _clear(self) -> None:
        self._history: list[tuple[tuple[int, ...], Result | None]] = []
        self._fidelities: list[int | None] = []  # one per history entry
        self._succeeded: set[Hashable] = set()   # keys told with a result at least once
        self._failed_only: set[Hashable] = set()  # keys told, only ever as failed
        self._failed_changes = 0
        self._reevaluable_token: tuple[int, int] | None = None
        self._reevaluable_keys: list[Hashable] = []
        self._seen: dict[Hashable, None] = {}  # proposed or told keys, insertion-ordered
        self._pending: dict[Hashable, int] = {}
        self._parents: dict[Hashable, tuple[int, ...]] = {}
        self._last_parent: tuple[int, ...] | None = None
        self.n_asked = 0
        self._reset()

    def _code_of_key(self, key: Hashable) -> tuple[int, ...]:
        return self._enc.code_of_key(key)

    def _fresh(self, tries: int = 64) -> np.ndarray | None:
        """A random code: unseen with dedup (``None`` when none is left), any without."""
        if self.dedup:
            return self._enc.fresh(self._rng, self._seen, tries)
        return self._enc.sample(self._rng, 1)[0]

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({self.space!r}, {settings})"


def resolve_objectives(objectives: Mapping[str, str] | None,
                       mode: str | None = None) -> dict[str, str]:
    """Validate ``objectives`` (metric -> ``"max"``/``"min"``); ``None`` means
    ``{"accuracy": mode or "max"}``. Raises ``ValueError`` stating the rule."""
    if mode is not None and mode not in MODES:
        raise ValueError(
            f"mode must be 'max' or 'min', got {mode!r}; use mode='max' for a metric to "
            f"maximize (accuracy) or mode='min' for one to minimize (loss)")
    if objectives is None:
        return {"accuracy": mode or "max"}
    if mode is not None:
        raise ValueError(f"pass either mode= or objectives=, not both (got mode={mode!r}, "
                         f"objectives={objectives!r}); give the direction in objectives")
    if not isinstance(objectives, Mapping):
        raise TypeError(f"objectives must be a mapping of metric name to 'max' or 'min', got "
                        f"{objectives!r}; e.g. objectives={{'accuracy': 'max', 'params': 'min'}}")
    if not objectives:
        raise ValueError("objectives must name at least one metric, got an empty mapping; "
                         "e.g. objectives={'accuracy': 'max'}")
    out: dict[str, str] = {}
    for metric, direction in objectives.items():
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"objective names must be non-empty strings, got {metric!r}")
        if direction not in MODES:
            raise ValueError(f"objective {metric!r}: direction must be 'max' or 'min', got "
                             f"{direction!r}; e.g. {{'accuracy': 'max', 'params': 'min'}}")
        out[metric] = direction
    return out


def _describe(objectives: Mapping[str, str]) -> str:
    return ", ".join(f"{k} ({d})" for k, d in objectives.items())


def fidelity_key(score: float, fidelity: int | None) -> tuple[float, float]:
    """The order of results of different fidelity: ``(fidelity, score)`` compared as a tuple,
    full fidelity (``None``) above any number of epochs. ``score`` is signed so that higher
    is better. A stopped trial (lower fidelity) never outranks a full-fidelity one; results
    of equal fidelity compare by score (see the module docstring)."""
    return (math.inf if fidelity is None else float(fidelity), score)


def _as_fidelity(fidelity: Any) -> int | None:
    if fidelity is None:
        return None
    if isinstance(fidelity, bool) or not isinstance(fidelity, numbers.Integral) or fidelity < 0:
        raise ValueError(f"fidelity must be an int >= 0 (the epochs the trial trained) or None "
                         f"(full fidelity), got {fidelity!r}")
    return int(fidelity)


def _as_value(value: Any, metric: str | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        where = "" if metric is None else f" for metric {metric!r}"
        raise TypeError(f"value must be a real number, or None for a failed trial, got "
                        f"{value!r} ({type(value).__name__}){where}; tell the trial's metric "
                        f"as a float")
    value = float(value)
    return value if math.isfinite(value) else None


def _loads(genome_id: str) -> Genome:
    return json.loads(genome_id)


def _to_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"ndarray": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return {"int": str(int(obj))}  # 128-bit generator words do not fit a JSON double
    return obj


def _from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"int"}:
            return int(obj["int"])
        if set(obj) == {"ndarray", "dtype"}:
            return np.array(obj["ndarray"], dtype=obj["dtype"])
        return {k: _from_json(v) for k, v in obj.items()}
    return obj


def _rng_state_to_json(rng: np.random.Generator) -> dict[str, Any]:
    return _to_json(rng.bit_generator.state)


def _rng_from_json(data: Mapping[str, Any]) -> np.random.Generator:
    state = _from_json(dict(data))
    name = state.get("bit_generator")
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r} in the saved state; "
                         f"known: {', '.join(_BIT_GENERATORS)}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def parse_objectives(items: Iterable[str] | str, known: Sequence[str] | None = None) -> dict[str, str]:
    """``["accuracy:max", "params:min"]`` (or the comma-separated ``"accuracy:max,params:min"``)
    as an objectives mapping. Errors name the item: no ``:``, a direction other than max/min,
    a metric outside ``known`` (when given), the same metric twice."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    out: dict[str, str] = {}
    for item in items:
        metric, sep, direction = str(item).strip().partition(":")
        metric, direction = metric.strip(), direction.strip()
        if not sep or not metric:
            raise ValueError(f"an objective is METRIC:DIRECTION such as accuracy:max or "
                             f"params:min, got {item!r}")
        if direction not in MODES:
            raise ValueError(f"objective {item!r}: direction must be 'max' or 'min', got "
                             f"{direction!r}")
        if known is not None and metric not in known:
            raise ValueError(f"objective {item!r}: unknown metric {metric!r}; known: "
                             f"{', '.join(known)}")
        if metric in out:
            raise ValueError(f"objective {item!r}: metric {metric!r} is given twice; name each "
                             f"metric once")
        out[metric] = direction
    if not out:
        raise ValueError("no objective given; pass e.g. accuracy:max,params:min")
    return out
