"""``raynas.strategies.pareto``: non-dominated sorting, crowding, hypervolume, its improvement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from raynas.strategies.pareto import (RankPeeling, SlidingDominance, best_improvement,
                                      crowding_distance, dominates_matrix, hypervolume,
                                      hypervolume_improvement, non_dominated, pareto_ranks)


def brute_ranks(points: np.ndarray) -> np.ndarray:
    dom = dominates_matrix(points)
    ranks = np.full(len(points), -1)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        front = {j for j in remaining if not any(dom[i, j] for i in remaining)}
        for j in front:
            ranks[j] = rank
        remaining -= front
        rank += 1
    return ranks


def grid_volume(points: np.ndarray, ref: np.ndarray, steps: int = 40) -> float:
    """Hypervolume by counting cells of a grid on integer points (exact for integer data)."""
    axes = [np.arange(0, r) + 0.5 for r in ref.astype(int)]
    cells = np.array(list(itertools.product(*axes)))
    covered = (points[None, :, :] <= cells[:, None, :]).all(axis=2).any(axis=1)
    return float(covered.sum())


@pytest.mark.parametrize("m", [2, 3])
def test_ranks_match_peeling(m) -> None:
    rng = np.random.default_rng(m)
    for _ in range(100):
        points = rng.integers(0, 5, size=(int(rng.integers(1, 30)), m)).astype(float)
        assert (pareto_ranks(points) == brute_ranks(points)).all()
        assert (non_dominated(points) == (brute_ranks(points) == 0)).all()


@pytest.mark.parametrize("m", [2, 3])
def test_sliding_dominance_and_lazy_peeling_match_the_full_sort(m) -> None:
    rng = np.random.default_rng(10 + m)
    window = SlidingDominance(size=12, n_objectives=m)
    history = []
    for _ in range(60):
        point = rng.integers(0, 4, size=m).astype(float)
        window.append(point)
        history.append(point)
        points = np.array(history[-12:])
        assert np.array_equal(window.points, points)
        assert np.array_equal(window.matrix, dominates_matrix(points).astype(float))
        assert np.array_equal(window.counts, window.matrix.sum(axis=0))  # kept by the appends
        want = brute_ranks(points)
        for peeling in (RankPeeling(dominance=window.matrix),
                        RankPeeling(dominance=window.matrix, counts=window.counts)):
            for depth in range(int(want.max()) + 1):
                assert peeling.peel()
                # after each peel, exactly the ranks up to that depth are known, and right
                assert np.array_equal(peeling.ranks, np.where(want <= depth, want, -1))
            assert not peeling.peel()
        assert np.array_equal(window.counts, window.matrix.sum(axis=0))  # not changed by it
    # many appends without a read (a replay): the matrix is rebuilt when read
    for _ in range(30):
        history.append(rng.integers(0, 4, size=m).astype(float))
        window.append(history[-1])
    points = np.array(history[-12:])
    assert np.array_equal(window.matrix, dominates_matrix(points).astype(float))
    assert np.array_equal(window.counts, window.matrix.sum(axis=0))


def test_crowding_distance_of_one_rank_matches_the_grouped_computation() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        n, m = int(rng.integers(1, 25)), int(rng.integers(2, 4))
        points = np.round(rng.random((n, m)), 1)
        alone = crowding_distance(points, np.zeros(n, dtype=np.int64))
        # the same rank beside another rank, which the grouped path computes
        grouped = crowding_distance(np.vstack([points, np.full((1, m), 9.0)]),
                                    np.append(np.zeros(n, dtype=np.int64), 1))[:n]
        assert np.array_equal(alone, grouped)


def test_duplicates_share_a_rank_and_a_dominated_point_does_not() -> None:
    points = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 3.0], [2.0, 2.0], [0.0, 5.0]])
    assert pareto_ranks(points).tolist() == [0, 0, 1, 1, 0]


def test_crowding_distance() -> None:
    points = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0], [5.0, 5.0]])
    distance = crowding_distance(points)
    assert np.isinf(distance[[0, 3, 4]]).all()  # extremes and a lone point
    assert distance[1] == pytest.approx(3 / 4 + 3 / 4)
    assert distance[2] == pytest.approx(3 / 4 + 2 / 4)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_matches_counting(m) -> None:
    rng = np.random.default_rng(10 + m)
    ref = np.full(m, 6.0)
    for _ in range(30):
        points = rng.integers(0, 7, size=(int(rng.integers(1, 12)), m)).astype(float)
        assert hypervolume(points, ref) == pytest.approx(grid_volume(points, ref))


def test_hypervolume_edge_cases() -> None:
    assert hypervolume(np.zeros((0, 2)), np.ones(2)) == 0.0
    assert hypervolume(np.array([[2.0, 0.0]]), np.ones(2)) == 0.0  # beyond the reference
    assert hypervolume(np.array([[0.5, 0.5]]), np.ones(2)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="reference point has 3 values but the points have 2"):
        hypervolume(np.ones((1, 2)), np.ones(3))


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_hypervolume_improvement_is_the_difference(m) -> None:
    rng = np.random.default_rng(20 + m)
    ref = np.full(m, 1.1)
    for _ in range(20):
        front = rng.random((int(rng.integers(0, 10)), m))
        candidates = rng.random((15, m))
        got = hypervolume_improvement(front, candidates, ref)
        base = hypervolume(front, ref) if len(front) else 0.0
        want = [hypervolume(np.vstack([front, c]), ref) - base for c in candidates]
        assert got == pytest.approx(want, abs=1e-12)


def test_hypervolume_improvement_in_3d_with_ties_matches_counting() -> None:
    # integer points tie on every axis: the 3-D sweep drops clipped points that a point
    # better in two objectives dominates, and must keep one of several equal ones
    rng = np.random.default_rng(3)
    ref = np.full(3, 6.0)
    for _ in range(40):
        front = rng.integers(0, 6, size=(int(rng.integers(1, 25)), 3)).astype(float)
        candidates = rng.integers(0, 6, size=(8, 3)).astype(float)
        base = grid_volume(front, ref)
        want = [grid_volume(np.vstack([front, c]), ref) - base for c in candidates]
        assert hypervolume_improvement(front, candidates, ref) == pytest.approx(want)


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_improvement_on_large_fronts_with_dominated_points(m) -> None:
    # fronts of 60-200 points (the 3-D sweep runs in chunks) and a front holding dominated
    # points, which the caller may pass with front_is_non_dominated=True
    rng = np.random.default_rng(7 + m)
    ref = np.ones(m)
    points = rng.random((200, m))
    front = points[non_dominated(points)]
    candidates = rng.random((40, m)) * 0.9
    base = hypervolume(front, ref)
    want = [hypervolume(np.vstack([front, c]), ref) - base for c in candidates]
    assert hypervolume_improvement(front, candidates, ref) == pytest.approx(want, abs=1e-12)
    assert hypervolume_improvement(points, candidates, ref, front_is_non_dominated=True) == \
        pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_best_improvement_is_the_argmax_of_the_improvements(m) -> None:
    rng = np.random.default_rng(30 + m)
    ref = np.ones(m)
    positive = 0
    for _ in range(40):
        points = rng.random((int(rng.integers(1, 80)), m))
        front = points[non_dominated(points)]
        candidates = rng.random((50, m)) * rng.uniform(0.5, 1.2)
        gains = hypervolume_improvement(front, candidates, ref)
        index, gain = best_improvement(front, candidates, ref)
        if gains.max() > 0:
            positive += 1
            assert index == int(np.argmax(gains))
            assert gain == pytest.approx(gains.max(), abs=1e-12)
        else:
            assert gain == 0.0
    assert positive >= 10  # the comparison above ran on real improvements
    with pytest.raises(ValueError, match="at least one candidate"):
        best_improvement(front, np.zeros((0, m)), ref)
