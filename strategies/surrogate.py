"""A cheap model of the history that screens candidate genomes (numpy only).

:class:`RankRidge` is a Bayesian linear model on one-hot genome features fitted to the
*normal scores of the ranks* of the results, so that it depends only on their order (robust to
outliers such as diverged trainings, and the same for any monotone rescaling of the metric).
Candidates are scored by Thompson sampling: one draw of the weights from the posterior, so
that concurrent asks explore different candidates and exploration fades as results accumulate.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of each ``p`` in (0, 1) (``statistics.NormalDist``)."""
    p = np.asarray(p, dtype=float)
    return np.array([_NORMAL.inv_cdf(float(v)) for v in p.ravel()]).reshape(p.shape)


_SCORES: dict[int, np.ndarray] = {}


def _normal_scores(n: int) -> np.ndarray:
    """``normal_quantile((i + 0.5) / n)`` for ``i < n`` (cached for small ``n``; read-only)."""
    scores = _SCORES.get(n)
    if scores is None:
        scores = normal_quantile((np.arange(n) + 0.5) / n)
        scores.flags.writeable = False
        if n <= 4096:
            _SCORES[n] = scores
    return scores


def rank_scores(y: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks of ``y`` (ties share their mean score); mean ~0, var ~1."""
    n = len(y)
    order = np.argsort(y, kind="stable")
    scores = np.empty(n)
    scores[order] = _normal_scores(n)
    ys = y[order]
    if n > 1 and (ys[1:] == ys[:-1]).any():
        _, inverse = np.unique(y, return_inverse=True)
        scores = (np.bincount(inverse, weights=scores) / np.bincount(inverse))[inverse]
    return scores


class RankRidge:
    """Bayesian ridge regression of rank scores on features, with Thompson sampling.

    ``add(x, y)`` appends one observation (higher ``y`` is better); ``sample_weights(rng)``
    draws weights from the posterior ``N(mean, s2 * (X'X + alpha*I)^-1)`` where ``s2`` is the
    residual variance (with one unit pseudo-observation); ``predict`` is ``features @ w``.
    Cost per fit: O(n * F + F^3) for n observations and F features.
    """

    def __init__(self, n_features: int, alpha: float = 1.0, capacity: int = 64):
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}; use e.g. alpha=1.0")
        self.n_features = n_features
        self.alpha = float(alpha)
        self._x = np.empty((capacity, n_features))
        self._y = np.empty(capacity)
        self._xtx = np.zeros((n_features, n_features))
        self.n = 0
        self._fit: tuple[np.ndarray, np.ndarray, float, np.ndarray] | None = None

    def add(self, x: np.ndarray, y: float) -> None:
        """Append one observation (feature row ``x``, value ``y``)."""
        if self.n == len(self._y):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self.n] = x
        self._y[self.n] = y
        self._xtx += np.outer(x, x)
        self.n += 1
        self._fit = None

    def _posterior(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        if self._fit is None:
            x, t = self._x[:self.n], rank_scores(self._y[:self.n])
            a = self._xtx + self.alpha * np.eye(self.n_features)
            chol = np.linalg.cholesky(a)
            mean = np.linalg.solve(a, x.T @ t)
            resid = t - x @ mean
            s2 = (float(resid @ resid) + 1.0) / (self.n + 1.0)
            self._fit = (mean, chol, s2, t)
        return self._fit

    def targets(self) -> np.ndarray:
        """The rank scores the model is fitted to, one per observation, in ``add`` order."""
        if self.n == 0:
            return np.zeros(0)
        return self._posterior()[3]

    def sample_weights(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """One posterior draw of the weights (``scale`` multiplies its spread)."""
        if self.n == 0:
            return rng.standard_normal(self.n_features)
        mean, chol, s2, _ = self._posterior()
        z = rng.standard_normal(self.n_features)
        # w = mean + sqrt(s2) * L^-T z has covariance s2 * (L L^T)^-1
        return mean + scale * np.sqrt(s2) * np.linalg.solve(chol.T, z)
