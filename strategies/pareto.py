"""Pareto utilities for several objectives, all **minimised** (numpy only).

Points are rows of an ``(n, m)`` array. Shared by the multi-objective strategies, ``raynas bench``
and the reports:

* :func:`dominates_matrix`, :func:`non_dominated`, :func:`pareto_ranks`, :class:`RankPeeling`,
  :class:`SlidingDominance`: non-dominated sorting
  (Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist multiobjective genetic algorithm:
  NSGA-II", IEEE TEVC 2002);
* :func:`crowding_distance`: NSGA-II's diversity measure within each rank;
* :func:`hypervolume`: the volume dominated by a set and bounded by a reference point (exact:
  a sweep in 2-D, slicing by the last objective above, Zitzler & Thiele 1998; While et al. 2006);
* :func:`hypervolume_improvement`: how much each candidate point would add to a set's
  hypervolume, batched over candidates (2 and 3 objectives vectorised; more by slicing).
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :] if arr.size else arr.reshape(0, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be an (n, m) array of objective values, got shape "
                         f"{np.shape(points)}")
    return arr


def dominates_matrix(points: np.ndarray) -> np.ndarray:
    """``D[i, j]`` is True when point ``i`` dominates point ``j`` (no worse in every objective,
    better in one)."""
    p = _as_points(points)
    weak = weakly_dominates(p, p)
    return weak & ~weak.T  # no worse everywhere, and not equal everywhere


def weakly_dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``W[i, k]`` is True when ``a[i]`` is no worse than ``b[k]`` in every objective (one
    ``(len(a), len(b))`` comparison per objective: numpy reduces a short axis slowly)."""
    out = np.ones((len(a), len(b)), dtype=bool)
    for j in range(a.shape[1]):
        out &= a[:, j, None] <= b[None, :, j]
    return out


def compare_to_rows(point: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(below, above)`` for one point against each row: ``below[i]`` when the point is no
    larger than ``rows[i]`` in every objective and not equal (minimising: it dominates the
    row), ``above[i]`` the other way round (the row dominates it)."""
    values, rows = _as_points(point)[0].tolist(), _as_points(rows)
    no_larger = np.ones(len(rows), dtype=bool)
    no_smaller = np.ones(len(rows), dtype=bool)
    for j, value in enumerate(values):  # one objective at a time (see weakly_dominates)
        column = rows[:, j]
        no_larger &= value <= column
        no_smaller &= value >= column
    return no_larger & ~no_smaller, no_smaller & ~no_larger


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates (duplicates all kept).
    O(n log n) for two objectives, O(n^2 m) otherwise."""
    p = _as_points(points)
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    if p.shape[1] == 2:
        return _non_dominated_2d(p)
    return ~dominates_matrix(p).any(axis=0)


def _non_dominated_2d(p: np.ndarray) -> np.ndarray:
    # sorted by (f1, f2), a point is dominated iff a point of an earlier group of equal points
    # has f2 no larger than its own
    order = np.lexsort((p[:, 1], p[:, 0]))
    x, y = p[order, 0], p[order, 1]
    n = len(x)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    before = np.empty(n)
    before[0] = np.inf
    before[1:] = np.minimum.accumulate(y)[:-1]
    keep_sorted = before[start] > y
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    return keep


def _ranks_2d(p: np.ndarray) -> np.ndarray:
    # sweep by (f1, f2): tails[r] is the f2 of the last point given rank r (increasing in r);
    # a point joins the first rank whose tail has a larger f2 (O(n log n), Jensen 2003)
    order = np.lexsort((p[:, 1], p[:, 0]))
    xs, ys = p[order, 0].tolist(), p[order, 1].tolist()
    tails: list[float] = []
    sorted_ranks = [0] * len(xs)
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i and x == xs[i - 1] and y == ys[i - 1]:
            sorted_ranks[i] = sorted_ranks[i - 1]
            continue
        r = bisect_right(tails, y)
        if r == len(tails):
            tails.append(y)
        else:
            tails[r] = y
        sorted_ranks[i] = r
    ranks = np.empty(len(xs), dtype=np.int64)
    ranks[order] = sorted_ranks
    return ranks


def pareto_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: rank 0 for the non-dominated points, rank 1 for those only rank-0
    points dominate, and so on (ints, shape ``(n,)``)."""
    p = _as_points(points)
    if p.shape[1] == 2:
        return _ranks_2d(p)
    peeling = RankPeeling(p)
    while peeling.peel():
        pass
    return peeling.ranks


class SlidingDominance:
    """The dominance matrix of the newest ``size`` points appended (a sliding window, as an
    aging population): an append costs O(n m) comparisons instead of the O(n^2 m) of
    :func:`dominates_matrix`.

    :attr:`points` are the window's rows, oldest first; :attr:`matrix` is ``dominates_matrix``
    of them as floats (``1.0`` where row ``i`` dominates row ``j``) and :attr:`counts` its
    column sums (how many rows dominate each row). Appends made while nobody reads them (a
    replay of many results) stop updating them; they are rebuilt once when next read.
    """

    _UNREAD_APPENDS = 4  # appends without a read after which updating stops

    def __init__(self, size: int, n_objectives: int):
        self.size = int(size)
        self.points = np.zeros((0, n_objectives))
        self._matrix: np.ndarray | None = np.zeros((0, 0))
        self._counts = np.zeros(0)
        self._unread = 0

    def _read(self) -> None:
        """Rebuild the matrix and the counts if the updates stopped; a read resumes them."""
        if self._matrix is None:
            self._matrix = dominates_matrix(self.points).astype(np.float64)
            self._counts = self._matrix.sum(axis=0)
        self._unread = 0

    @property
    def matrix(self) -> np.ndarray:
        self._read()
        return self._matrix

    @property
    def counts(self) -> np.ndarray:
        """How many rows dominate each row (floats; read-only by convention)."""
        self._read()
        return self._counts

    def append(self, point: np.ndarray) -> None:
        """Add ``point`` (one row) as the newest; the oldest leaves when the window is full."""
        point = np.asarray(point, dtype=float)
        start = max(0, len(self.points) + 1 - self.size)
        kept = self.points[start:]
        self.points = np.concatenate([kept, point.reshape(1, -1)])
        self._unread += 1
        if self._matrix is None or self._unread > self._UNREAD_APPENDS:
            self._matrix = None
            return
        n = len(self.points)
        matrix = np.empty((n, n))
        matrix[:-1, :-1] = self._matrix[start:, start:]
        dominated, dominating = compare_to_rows(point, kept)
        matrix[-1, :-1], matrix[:-1, -1] = dominated, dominating
        matrix[-1, -1] = 0.0
        counts = np.empty(n)
        counts[:-1] = self._counts[start:]
        if start:  # the rows that left no longer dominate anyone
            counts[:-1] -= self._matrix[:start, start:].sum(axis=0)
        counts[:-1] += dominated
        counts[-1] = np.count_nonzero(dominating)
        self._matrix, self._counts = matrix, counts


class RankPeeling:
    """Non-dominated sorting peeled one rank at a time on demand, for callers that need only
    the first ranks (a tournament needs the best rank among a few members).

    Built from the points, or from their dominance matrix (``dominance``, as floats, e.g.
    :attr:`SlidingDominance.matrix`). :attr:`ranks` holds each point's rank once its rank is
    peeled, ``-1`` before; :meth:`peel` peels the next rank, one product with the ``(n, n)``
    dominance matrix.
    """

    def __init__(self, points: np.ndarray | None = None, dominance: np.ndarray | None = None,
                 counts: np.ndarray | None = None):
        if dominance is None:
            dominance = dominates_matrix(_as_points(points)).astype(np.float64)
        n = len(dominance)
        self.ranks = np.full(n, -1, dtype=np.int64)
        self.depth = 0  # ranks below this are peeled
        self._remaining = np.ones(n, dtype=bool)
        self._dom = dominance
        # counts stay exact; @ runs on BLAS
        self._count = dominance.sum(axis=0) if counts is None else np.array(counts, dtype=float)
        self._peeled: np.ndarray | None = None  # the last rank, until its points are removed

    def peel(self) -> bool:
        """Peel the next rank; False (and nothing done) when every point is ranked."""
        if self._peeled is not None:  # the last rank's points leave the counts only now
            self._count -= self._peeled.astype(np.float64) @ self._dom
            self._peeled = None
        if not self._remaining.any():
            return False
        current = self._remaining & (self._count == 0)
        self.ranks[current] = self.depth
        self._remaining &= ~current
        self._peeled = current
        self.depth += 1
        return True


def crowding_distance(points: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II crowding distance of each point within its rank (``inf`` at a rank's extremes
    and for ranks of at most two points); per objective the gap is divided by the rank's range."""
    p = _as_points(points)
    n, m = p.shape
    if ranks is None:
        ranks = pareto_ranks(p)
    ranks = np.asarray(ranks)
    out = np.zeros(n)
    if n == 0:
        return out
    if (ranks == ranks[0]).all():  # one rank (a tournament's case)
        return crowding_distance_one_rank(p)
    # by rank, then by value, per objective; the rank groups line up in every column
    order = np.column_stack([np.lexsort((p[:, j], ranks)) for j in range(m)])   # (n, m)
    r = np.sort(ranks, kind="stable")
    first = np.zeros(n, dtype=bool)
    last = np.zeros(n, dtype=bool)
    first[0] = last[-1] = True
    first[1:] = r[1:] != r[:-1]
    last[:-1] = r[1:] != r[:-1]
    group = np.cumsum(first) - 1
    v = np.take_along_axis(p, order, axis=0)
    span = (v[last] - v[first])[group]
    gap = np.zeros((n, m))
    gap[1:-1] = v[2:] - v[:-2]
    inner = ~(first | last)[:, None]
    contrib = np.where(inner & (span > 0), gap / np.where(span > 0, span, 1.0), 0.0)
    contrib[first | last] = np.inf
    scattered = np.empty((n, m))
    scattered[order, np.arange(m)] = contrib
    for j in range(m):  # summed in objective order, as one objective at a time would
        out += scattered[:, j]
    return out


def crowding_distance_one_rank(points: np.ndarray) -> np.ndarray:
    """:func:`crowding_distance` of points that all share one rank (the same values, one
    sort per objective)."""
    p = _as_points(points)
    n, m = p.shape
    order = np.argsort(p, axis=0, kind="stable")
    columns = np.arange(m)
    v = p[order, columns]
    span = v[-1] - v[0]
    contrib = np.full((n, m), np.inf)  # the extremes
    if n > 2:
        spread = span > 0
        contrib[1:-1] = np.where(spread, (v[2:] - v[:-2]) / np.where(spread, span, 1.0), 0.0)
    scattered = np.empty((n, m))
    scattered[order, columns] = contrib
    out = np.zeros(n)
    for j in range(m):  # summed in objective order, as one objective at a time would
        out += scattered[:, j]
    return out


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (points that do not
    dominate the reference add nothing). Exact; 1, 2 or more objectives."""
    p = _as_points(points)
    ref = np.asarray(reference, dtype=float).ravel()
    if len(p) == 0:
        return 0.0
    if p.shape[1] != len(ref):
        raise ValueError(f"reference point has {len(ref)} values but the points have "
                         f"{p.shape[1]} objectives; give one reference value per objective")
    p = p[(p < ref).all(axis=1)]
    if len(p) == 0:
        return 0.0
    return _hv(p, ref)


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    m = p.shape[1]
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:
        order = np.argsort(p[:, 0], kind="stable")
        x, y = p[order, 0], np.minimum.accumulate(p[order, 1])
        widths = np.diff(np.append(x, ref[0]))
        return float((widths * (ref[1] - y)).sum())
    p = p[non_dominated(p)]
    order = np.argsort(p[:, -1], kind="stable")
    p = p[order]
    levels = np.append(p[:, -1], ref[-1])
    total = 0.0
    for k in range(len(p)):
        depth = levels[k + 1] - levels[k]
        if depth > 0:
            total += depth * _hv(p[:k + 1, :-1], ref[:-1])
    return total


def hypervolume_improvement(front: np.ndarray, candidates: np.ndarray,
                            reference: np.ndarray,
                            front_is_non_dominated: bool = False) -> np.ndarray:
    """For each candidate row, ``HV(front + [candidate]) - HV(front)`` (shape ``(c,)``).

    Uses ``HVI(p) = vol(box(p, ref)) - HV({max(q, p) : q in front})``: the front clipped to the
    candidate's box. With 2 or 3 objectives the clipped volumes are computed for all candidates
    at once (sort orders are shared, because ``max(., p)`` keeps them). ``front`` may hold
    dominated points; ``front_is_non_dominated=True`` skips removing them (a speed-up only).
    """
    ref = np.asarray(reference, dtype=float).ravel()
    c = np.minimum(_as_points(candidates, "candidates"), ref)
    f = _as_points(front, "front")
    box = np.prod(ref - c, axis=1)
    if len(f) == 0 or len(c) == 0:
        return box
    f = np.minimum(f if front_is_non_dominated else f[non_dominated(f)], ref)
    # a candidate weakly dominated by a front point adds nothing: compute the others only
    covered = weakly_dominates(f, c).any(axis=0)
    out = np.zeros(len(c))
    if covered.all():
        return out
    open_ = ~covered
    out[open_] = _improvement(f, c[open_], box[open_], ref)
    return out


def best_improvement(front: np.ndarray, candidates: np.ndarray, reference: np.ndarray,
                     front_is_non_dominated: bool = False, batch: int = 8) -> tuple[int, float]:
    """``(index, gain)`` of the first candidate with the largest hypervolume improvement, the
    same as ``argmax(hypervolume_improvement(...))`` but cheaper with 3 or more objectives:
    candidates are computed exactly in batches, in decreasing order of an upper bound
    (``vol(box(p)) - max over q of vol(box(max(q, p)))``), until no bound left beats the best.
    """
    ref = np.asarray(reference, dtype=float).ravel()
    c = np.minimum(_as_points(candidates, "candidates"), ref)
    f = _as_points(front, "front")
    if len(c) == 0:
        raise ValueError("best_improvement needs at least one candidate")
    if len(f) == 0 or len(ref) <= 2:
        gain = hypervolume_improvement(f, c, ref, front_is_non_dominated)
        best = int(np.argmax(gain))
        return best, float(gain[best])
    f = np.minimum(f if front_is_non_dominated else f[non_dominated(f)], ref)
    room_c, room_f = (ref - c).T.copy(), (ref - f).T.copy()  # up to the reference, per axis
    box = room_c[0].copy()
    for room in room_c[1:]:  # the product in objective order, as np.prod(ref - c, axis=1)
        box *= room
    # (c, n): vol(box(max(q, p))), one objective at a time (ref - max(q, p) = min of the rooms)
    clipped_box = np.minimum.outer(room_c[0], room_f[0])
    side = np.empty_like(clipped_box)
    for j in range(1, len(ref)):
        clipped_box *= np.minimum.outer(room_c[j], room_f[j], out=side)
    bound = box - clipped_box.max(axis=1)
    order = np.argsort(-bound, kind="stable")
    gain = np.full(len(c), -np.inf)
    best_gain = 0.0
    for start in range(0, len(order), batch):
        chosen = order[start:start + batch]
        if bound[chosen[0]] < best_gain or bound[chosen[0]] <= 0:
            break
        # a bound of 0 means a front point covers the candidate (or its box is empty): gain 0
        chosen = chosen[bound[chosen] > 0]
        gain[chosen] = _improvement(f, c[chosen], box[chosen], ref)
        best_gain = max(best_gain, float(gain[chosen].max()))
    if not np.isfinite(gain).any() or gain.max() <= 0:
        return int(order[0]), 0.0
    best = int(np.argmax(gain))
    return best, float(gain[best])


def _improvement(f: np.ndarray, c: np.ndarray, box: np.ndarray, ref: np.ndarray) -> np.ndarray:
    m = len(ref)
    if m == 1:
        return np.maximum(0.0, f[:, 0].min() - c[:, 0]) * (box > 0)
    if m == 2:
        return box - _clipped_hv2(f, c, ref)
    if m == 3:
        # candidates in chunks of at most ~2**21 cells of the (c, n, n) sweep
        step = max(1, (1 << 21) // (len(f) * len(f)))
        return box - np.concatenate([_clipped_hv3(f, c[i:i + step], ref)
                                     for i in range(0, len(c), step)])
    return np.array([hypervolume(np.vstack([f, row]), ref) - hypervolume(f, ref) for row in c])


def _clipped_hv2(f: np.ndarray, c: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """2-D hypervolume of ``{max(q, p) : q in f}`` for every candidate ``p`` (row of ``c``)."""
    order = np.argsort(f[:, 0], kind="stable")
    x = np.maximum(f[None, order, 0], c[:, 0:1])                        # (c, n), rows sorted
    y = np.minimum.accumulate(np.maximum(f[None, order, 1], c[:, 1:2]), axis=1)
    widths = np.diff(np.concatenate([x, np.full((len(c), 1), ref[0])], axis=1), axis=1)
    return (widths * (ref[1] - y)).sum(axis=1)


def _clipped_hv3(f: np.ndarray, c: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """3-D hypervolume of ``{max(q, p) : q in f}`` for every candidate ``p`` (row of ``c``).

    Most clipped points are dominated: a front point better than ``p`` in two objectives
    clips to ``p`` moved along the third axis only, and the nearest such point on an axis
    dominates every clipped point at least as far along it. Those are dropped (a cheap
    superset of the non-dominated clipped points stays), then :func:`_hv3_batched` sweeps
    the few left, padded with the reference point (which adds nothing)."""
    front_axes, candidate_axes = f.T[:, None, :], c.T[:, :, None]
    clipped = np.maximum(candidate_axes, front_axes)                       # (3, c, n)
    b0, b1, b2 = front_axes < candidate_axes                                # q better than p
    # q better in the two other objectives only: max(q, p) is p moved along that axis
    moved = np.stack([b1 & b2 & ~b0, b0 & b2 & ~b1, b0 & b1 & ~b2])        # (3, c, n)
    on_axis = np.where(moved, clipped, np.inf)
    closest = on_axis.argmin(axis=2)                                        # (3, c)
    limit = np.take_along_axis(on_axis, closest[:, :, None], axis=2)       # (3, c, 1)
    below = clipped < limit
    keep = below[0] & below[1] & below[2]                                   # (c, n)
    limit = limit[:, :, 0]
    axis, candidate = np.nonzero(np.isfinite(limit))
    keep[candidate, closest[axis, candidate]] = True
    k = max(1, int(keep.sum(axis=1).max()))
    rows = np.arange(len(c))[:, None]
    slot = np.argsort(~keep, axis=1, kind="stable")[:, :k]                 # kept points first
    points = clipped[:, rows, slot]                                         # (3, c, k)
    padding = ~keep[rows, slot]
    points[:, padding] = ref[:, None]
    return _hv3_batched(*points, ref)


def _hv3_batched(x: np.ndarray, y: np.ndarray, z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume of each of ``c`` sets of ``k`` points inside the reference box, given by
    their coordinates (three ``(c, k)`` arrays): a sweep over the third objective whose 2-D
    slices (the points up to each level) are computed for every level and set at once,
    O(c k^2)."""
    c, k = x.shape
    rows = np.arange(c)[:, None]
    by_x = np.argsort(x, axis=1, kind="stable")
    x, y, z = x[rows, by_x], y[rows, by_x], z[rows, by_x]
    widths = np.empty((c, k))                                              # (c, point)
    widths[:, :-1] = x[:, 1:] - x[:, :-1]
    widths[:, -1] = ref[0] - x[:, -1]
    by_z = np.argsort(z, axis=1, kind="stable")
    level_of = np.empty_like(by_z)
    level_of[rows, by_z] = np.arange(k)
    present = level_of[:, None, :] <= np.arange(k)[None, :, None]         # (c, level, point)
    heights = np.where(present, y[:, None, :], ref[1])
    np.minimum.accumulate(heights, axis=2, out=heights)
    areas = np.einsum("cp,clp->cl", widths, ref[1] - heights)             # (c, level)
    levels = z[rows, by_z]
    depth = np.empty((c, k))
    depth[:, :-1] = levels[:, 1:] - levels[:, :-1]
    depth[:, -1] = ref[2] - levels[:, -1]
    return (depth * areas).sum(axis=1)
