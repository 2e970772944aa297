"""``--scheduler``: Ray Tune's own early-stopping schedulers, configured from the settings.

Every trial reports its validation accuracy after each epoch (``training_iteration`` is the
epoch), and the scheduler reads those reports:

- ``fifo``: none; every trial trains ``--epochs``.
- ``asha``: ``ASHAScheduler`` (asynchronous successive halving, Li et al., MLSys 2020): rungs
  at ``grace * rf**k`` epochs; a trial reaching a rung below the rung's top ``1/rf`` stops.
- ``hyperband``: ``AsyncHyperBandScheduler`` with HyperBand's brackets (Li et al., JMLR 2018),
  ``floor(log_rf(epochs / grace)) + 1`` of them, each starting its rungs later. Tune's
  synchronous ``HyperBandScheduler`` pauses and resumes trials, which needs checkpoints a
  short NAS trial does not write, so raynas uses the asynchronous one.
- ``median``: ``MedianStoppingRule``: after ``grace`` epochs a trial whose best accuracy is
  below the median of the other trials' running means at that epoch stops (it never pauses).
"""

from __future__ import annotations

import math
from typing import Any

from raynas.run.settings import EvolveSettings

TIME_ATTR = "training_iteration"  # one report per epoch: the epoch
METRIC = "accuracy"


def hyperband_brackets(epochs: int, grace: int, rate: float) -> int:
    """HyperBand's number of brackets: ``floor(log_rate(epochs / grace)) + 1``."""
    return max(1, int(math.floor(math.log(epochs / grace) / math.log(rate) + 1e-9)) + 1)


def make_scheduler(settings: EvolveSettings) -> Any:
    """The Tune scheduler of ``settings.scheduler`` (``None`` for fifo: Tune's default)."""
    from ray.tune.schedulers import ASHAScheduler, AsyncHyperBandScheduler, MedianStoppingRule

    name, epochs, grace = settings.scheduler, settings.epochs, settings.grace
    if name == "fifo":
        return None
    common = {"time_attr": TIME_ATTR, "metric": METRIC, "mode": "max"}
    if name == "asha":
        return ASHAScheduler(max_t=epochs, grace_period=grace,
                             reduction_factor=settings.halving_rate, **common)
    if name == "hyperband":
        return AsyncHyperBandScheduler(
            max_t=epochs, grace_period=grace, reduction_factor=settings.halving_rate,
            brackets=hyperband_brackets(epochs, grace, settings.halving_rate), **common)
    if name == "median":
        return MedianStoppingRule(grace_period=grace, min_samples_required=3,
                                  min_time_slice=10**9, hard_stop=True, **common)
    raise ValueError(f"unknown scheduler {name!r}")  # the settings already checked it
