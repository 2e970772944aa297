"""A cheap model of the history that screens candidate genomes (numpy only).

:class:`RankRidge` is a Bayesian linear model on one-hot genome features fitted to the
*normal scores of the ranks* of the results, so that it depends only on their order (robust to
outliers such as diverged trainings, and the same for any monotone rescaling of the metric).
Candidates are scored by Thompson sampling: one draw of the weights from the posterior, so
that concurrent asks explore different candidates and exploration fades as results accumulate.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

# Wichura's AS241 rational approximations of the normal quantile (Applied Statistics 37(3),
# 1988), the algorithm behind ``statistics.NormalDist.inv_cdf``, coefficients highest first
_CENTRAL_NUM = (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
                4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
                1.3314166789178437745e+2, 3.3871328727963666080e+0)
_CENTRAL_DEN = (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
                2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
                4.2313330701600911252e+1, 1.0)
_TAIL_NUM = (7.7454501427834140764e-4, 2.2723844989269184583e-2, 2.4178072517745061177e-1,
             1.2704582524523683826e+0, 3.6478483247632046050e+0, 5.7694972214606914055e+0,
             4.6303378461565452959e+0, 1.4234371107496835773e+0)
_TAIL_DEN = (1.0507500716444168432e-9, 5.4759380849953449460e-4, 1.5198666563616457197e-2,
             1.4810397642748007459e-1, 6.8976733498510000455e-1, 1.6763848301838038494e+0,
             2.0531916266377588219e+0, 1.0)
_FAR_NUM = (2.0103343992922881327e-7, 2.7115555687434875782e-5, 1.2426609473880784386e-3,
            2.6532189526576123093e-2, 2.9656057182850489123e-1, 1.7848265399172913358e+0,
            5.4637849111641143699e+0, 6.6579046435011037772e+0)
_FAR_DEN = (2.0442631033899397856e-15, 1.4215117583164458887e-7, 1.8463183175100546818e-5,
            7.8686913114561325910e-4, 1.4875361290850614853e-2, 1.3692988092273580531e-1,
            5.9983220655588793769e-1, 1.0)
_CENTRAL = np.array([_CENTRAL_NUM, _CENTRAL_DEN])
_TAIL = np.array([_TAIL_NUM, _TAIL_DEN])
_FAR = np.array([_FAR_NUM, _FAR_DEN])


_STANDARD_NORMAL = NormalDist()
_SCALAR_BELOW = 32  # fewer values: one Python call each is faster than the vectorised path


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile of each ``p`` in (0, 1), vectorised (AS241, the
    algorithm of ``statistics.NormalDist.inv_cdf``: the same values to the bit)."""
    p = np.asarray(p, dtype=float)
    if p.size < _SCALAR_BELOW:
        inv_cdf = _STANDARD_NORMAL.inv_cdf
        return np.array([inv_cdf(v) for v in p.ravel().tolist()]).reshape(p.shape)
    q = p - 0.5
    central = np.abs(q) <= 0.425
    if central.all():
        top, bottom = _horner(_CENTRAL, 0.180625 - q * q)
        return q * top / bottom
    out = np.empty_like(p)
    qc = q[central]
    top, bottom = _horner(_CENTRAL, 0.180625 - qc * qc)
    out[central] = qc * top / bottom
    tails = ~central
    qt = q[tails]
    r = np.sqrt(-np.log(np.where(qt <= 0.0, p[tails], 1.0 - p[tails])))
    near = r <= 5.0
    x = np.empty_like(r)
    for mask, coefficients, shift in ((near, _TAIL, 1.6), (~near, _FAR, 5.0)):
        if mask.any():
            top, bottom = _horner(coefficients, r[mask] - shift)
            x[mask] = top / bottom
    out[tails] = np.where(qt < 0.0, -x, x)
    return out


def _horner(coefficients: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The numerator and denominator polynomials (rows of ``coefficients``, highest degree
    first) at ``r``, shape ``(2, len(r))``."""
    values = np.repeat(coefficients[:, :1], len(r), axis=1)
    for column in coefficients.T[1:]:
        values *= r
        values += column[:, None]
    return values


_SCORES: list[dict[int, np.ndarray]] = [{}]  # n -> its scores, for the last few n asked
_AHEAD = 32          # while n is small a model refits after every result, n + 1 next:
_AHEAD_BELOW = 512   # below this n, the scores of n .. n + 31 are computed in one call


def _normal_scores(n: int) -> np.ndarray:
    """``normal_quantile((i + 0.5) / n)`` for ``i < n`` (read-only). Below
    :data:`_AHEAD_BELOW` the next sizes are computed in the same vectorised call (each value is
    computed alone, so they are the same to the bit), and models of one run share them."""
    scores = _SCORES[0].get(n)
    if scores is None:
        sizes = range(n, n + _AHEAD) if n < _AHEAD_BELOW else range(n, n + 1)
        values = normal_quantile(np.concatenate([(np.arange(k) + 0.5) / k for k in sizes]))
        values.flags.writeable = False
        ends = np.cumsum(list(sizes))
        batch = {k: values[end - k:end] for k, end in zip(sizes, ends.tolist())}
        _SCORES[0] = batch
        scores = batch[n]
    return scores


_LAST_FACTOR: list[tuple[np.ndarray, np.ndarray]] = []  # (a, L^-T) of the last matrix factored


def _inverse_cholesky_t(a: np.ndarray) -> np.ndarray:
    """``L^-T`` for the Cholesky factor ``L`` of ``a``. The last matrix's is kept, so models
    fitted to the same features (one per objective) factor them once."""
    last = _LAST_FACTOR[0] if _LAST_FACTOR else None  # one read: an entry is never mixed
    if last is not None and np.array_equal(last[0], a):
        return last[1]
    inverse_t = np.linalg.inv(np.linalg.cholesky(a).T)
    _LAST_FACTOR[:] = [(a, inverse_t)]
    return inverse_t


def rank_scores(y: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks of ``y`` (ties share their mean score); mean ~0, var ~1."""
    return _ranked(y)[0]


def _ranked(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rank_scores(y), y sorted, _normal_scores(len(y)))``."""
    n = len(y)
    order = np.argsort(y, kind="stable")
    scores = np.empty(n)
    ys = y[order]
    starts = ys[1:] != ys[:-1]
    normal = _normal_scores(n)
    if starts.all():
        scores[order] = normal
        return scores, ys, normal
    # ties: each run of equal sorted values gets its mean score (the sort is stable, so a
    # run is summed in the order of the observations, as a bincount over them would)
    group = np.concatenate([[0], np.cumsum(starts)])
    scores[order] = (np.bincount(group, weights=normal) / np.bincount(group))[group]
    return scores, ys, normal


class RankRidge:
    """Bayesian ridge regression of rank scores on features, with Thompson sampling.

    ``add(x, y)`` appends one observation (higher ``y`` is better); ``sample_weights(rng)``
    draws weights from the posterior ``N(mean, s2 * (X'X + alpha*I)^-1)`` where ``s2`` is the
    residual variance (with one unit pseudo-observation); ``predict`` is ``features @ w``.
    Cost per fit: O(n log n + n * F + F^3) for n observations and F features.

    Refits: after every ``add`` up to ``exact_until`` observations; beyond, when the
    observations have grown by ``stale_fraction`` since the last fit (at 10,000 results the
    model then lags at most 2% of them and a fit is amortised over 200 adds, which keeps an
    ask+tell under a millisecond). :attr:`current` says whether the fit covers every
    observation; :meth:`scores` places any value on the fit's rank scale.
    """

    def __init__(self, n_features: int, alpha: float = 1.0, capacity: int = 64,
                 exact_until: int = 256, stale_fraction: float = 0.02):
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}; use e.g. alpha=1.0")
        self.n_features = n_features
        self.alpha = float(alpha)
        self.exact_until = int(exact_until)
        self.stale_fraction = float(stale_fraction)
        self._x = np.empty((capacity, n_features))
        self._y = np.empty(capacity)
        self._xtx = np.zeros((n_features, n_features))
        self._ridge = self.alpha * np.eye(n_features)
        self.n = 0
        self._fit: _Fit | None = None
        self._refit_at = 0  # refit when n reaches this

    def add(self, x: np.ndarray, y: float) -> None:
        """Append one observation (feature row ``x``, value ``y``)."""
        if self.n == len(self._y):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self.n] = x
        self._y[self.n] = y
        self._xtx += np.outer(x, x)
        self.n += 1

    @property
    def current(self) -> bool:
        """Whether the fit the model uses now covers every observation."""
        return self.fitted == self.n

    @property
    def fitted(self) -> int:
        """How many observations the fit the model uses now covers."""
        return self._posterior().n

    def _next_fit_at(self, fitted: int) -> int:
        """The number of observations at which a fit covering ``fitted`` is refitted."""
        if fitted + 1 <= self.exact_until:
            return fitted + 1
        return fitted + max(1, int(fitted * self.stale_fraction + 1e-9))

    def _posterior(self) -> "_Fit":
        if self.n >= self._refit_at:  # the first fit, or the fit is due
            n = self.n
            x, y = self._x[:n], self._y[:n]
            t, sorted_values, normal_scores = _ranked(y)
            a = self._xtx + self._ridge
            inverse_t = _inverse_cholesky_t(a)
            mean = np.linalg.solve(a, x.T @ t)
            resid = t - x @ mean
            s2 = (float(resid @ resid) + 1.0) / (n + 1.0)
            # w = mean + sqrt(s2) * L^-T z has covariance s2 * (L L^T)^-1: keep sqrt(s2) L^-T
            draw = np.sqrt(s2) * inverse_t
            self._fit = _Fit(n, mean, draw, t, sorted_values, float(t.min()) if n else math.nan,
                             normal_scores)
            self._refit_at = self._next_fit_at(n)
        return self._fit

    def targets(self) -> np.ndarray:
        """The rank scores the model is fitted to, one per observation it covers, in ``add``
        order (every observation when :attr:`current`)."""
        if self.n == 0:
            return np.zeros(0)
        return self._posterior().targets

    def lowest_target(self) -> float:
        """The smallest rank score of the fit (its worst observation's)."""
        return self._posterior().lowest_target

    def scores(self, y: np.ndarray) -> np.ndarray:
        """Values on the fit's rank scale: the normal score of each value's mid-rank among the
        fitted observations (an observed value without ties gets its own target)."""
        fit = self._posterior()
        y = np.asarray(y, dtype=float)
        if fit.n == 0:
            return np.full(y.shape, np.nan)  # no scale yet
        observed = fit.sorted_values
        # twice the mid-rank, within [0, n - 1]: whole ranks read the fit's normal scores
        twice = np.searchsorted(observed, y, "left") + np.searchsorted(observed, y, "right") - 1
        twice = np.minimum(np.maximum(twice, 0), 2 * fit.n - 2).ravel()
        half = twice % 2 == 1
        out = fit.normal_scores[twice // 2]
        if half.any():
            out[half] = normal_quantile((twice[half] / 2.0 + 0.5) / fit.n)
        return out.reshape(y.shape)

    def sample_weights(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """One posterior draw of the weights (``scale`` multiplies its spread)."""
        if self.n == 0:
            return rng.standard_normal(self.n_features)
        fit = self._posterior()
        spread = fit.draw @ rng.standard_normal(self.n_features)
        return fit.mean + (spread if scale == 1.0 else scale * spread)


class _Fit(NamedTuple):
    n: int                # observations covered
    mean: np.ndarray
    draw: np.ndarray      # sqrt(s2) L^-T: a posterior draw is mean + draw @ z, z ~ N(0, I)
    targets: np.ndarray   # rank scores, in add order
    sorted_values: np.ndarray  # the covered values, ascending
    lowest_target: float  # the smallest rank score
    normal_scores: np.ndarray  # _normal_scores(n), the score of each whole rank
