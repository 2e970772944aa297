"""A cheap model of the history that screens candidate genomes (numpy only).

:class:`RankRidge` is a Bayesian linear model on one-hot genome features fitted to the
*normal scores of the ranks* of the results, so that it depends only on their order (robust to
outliers such as diverged trainings, and the same for any monotone rescaling of the metric).
Candidates are scored by Thompson sampling: one draw of the weights from the posterior, so
that concurrent asks explore different candidates and exploration fades as results accumulate.
"""

from __future__ import annotations

import numpy as np

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9).
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00)


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of each ``p`` in (0, 1)."""
    p = np.asarray(p, dtype=float)
    q = np.minimum(p, 1.0 - p)
    out = np.empty_like(p)
    low = q < 0.02425
    if low.any():
        t = np.sqrt(-2.0 * np.log(q[low]))
        out[low] = (((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]) / \
                   ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0)
    mid = ~low
    if mid.any():
        u = q[mid] - 0.5
        r = u * u
        out[mid] = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * u / \
                   (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)
    # q <= 0.5 gives the lower-tail quantile; mirror it for p > 0.5
    return np.where(p > 0.5, -out, out)


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

    def mean_weights(self) -> np.ndarray:
        """The posterior mean of the weights (zeros before any observation)."""
        if self.n == 0:
            return np.zeros(self.n_features)
        return self._posterior()[0]

    def sample_weights(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """One posterior draw of the weights (``scale`` multiplies its spread)."""
        if self.n == 0:
            return rng.standard_normal(self.n_features)
        mean, chol, s2, _ = self._posterior()
        z = rng.standard_normal(self.n_features)
        # w = mean + sqrt(s2) * L^-T z has covariance s2 * (L L^T)^-1
        return mean + scale * np.sqrt(s2) * np.linalg.solve(chol.T, z)
