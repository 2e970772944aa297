"""``raynas.strategies.surrogate``: the normal quantile, rank scores and the rank-ridge model."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from raynas.strategies.surrogate import RankRidge, normal_quantile, rank_scores


def test_normal_quantile_equals_the_standard_library_everywhere() -> None:
    p = np.concatenate([(np.arange(5000) + 0.5) / 5000, [1e-300, 1e-30, 1e-12, 1e-5, 0.075,
                                                          0.925, 1 - 1e-12]])
    want = [NormalDist().inv_cdf(float(v)) for v in p]
    assert np.array_equal(normal_quantile(p), want)  # the same algorithm, to the bit
    assert normal_quantile(np.array([0.5, 0.3]))[0] == 0.0


def test_rank_scores_depend_only_on_the_order_and_ties_share() -> None:
    y = np.array([3.0, -1.0, 10.0, 3.0])
    scores = rank_scores(y)
    assert np.array_equal(rank_scores(np.exp(y)), scores)
    assert scores[0] == scores[3] and scores[1] < scores[0] < scores[2]


def test_rank_scores_of_every_size_match_their_definition() -> None:
    # normal scores are computed several sizes at a time while the history grows one by one;
    # each size must still equal its own definition, ties included (their mean score)
    rng = np.random.default_rng(4)
    for n in [*range(0, 70), 300, 600]:
        y = np.round(rng.normal(size=n), 1)
        normal = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
        want = np.empty(n)
        want[np.argsort(y, kind="stable")] = normal
        for value in np.unique(y):
            want[y == value] = want[y == value].mean()
        assert rank_scores(y) == pytest.approx(want, abs=1e-12)
    empty = RankRidge(3)
    assert empty.fitted == 0 and empty.current  # an empty model has nothing to fit


def _model(n: int, **kwargs) -> tuple[RankRidge, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = (rng.random((n, 12)) < 0.3).astype(float)
    y = x @ rng.normal(size=12) + 0.1 * rng.normal(size=n)
    model = RankRidge(12, **kwargs)
    for row, value in zip(x, y):
        model.add(row, value)
    return model, x, y


def test_the_model_refits_after_every_add_up_to_exact_until_then_lags_a_bounded_fraction() -> None:
    model, x, y = _model(100, exact_until=100, stale_fraction=0.1)
    assert model.current and len(model.targets()) == 100
    assert np.array_equal(model.targets(), rank_scores(y))
    for row, value in zip(x[:9], y[:9]):  # 9 more: under 10% growth, the fit waits
        model.add(row, value)
        assert not model.current and len(model.targets()) == 100
    model.add(x[9], y[9])  # 110 = 100 * 1.1: refitted
    assert model.current and len(model.targets()) == 110


def test_scores_place_values_on_the_fitted_rank_scale() -> None:
    model, _, y = _model(50)
    assert model.scores(y) == pytest.approx(model.targets(), abs=1e-12)  # no ties: own targets
    low, high = model.scores(np.array([y.min() - 1.0, y.max() + 1.0]))
    assert low == pytest.approx(model.targets().min()) and high == pytest.approx(model.targets().max())


def test_a_lagging_model_still_ranks_candidates_by_what_it_learned() -> None:
    model, x, y = _model(400, exact_until=64, stale_fraction=0.5)
    weights = np.mean([model.sample_weights(np.random.default_rng(s)) for s in range(20)], axis=0)
    assert np.corrcoef(x @ weights, y)[0, 1] > 0.8
