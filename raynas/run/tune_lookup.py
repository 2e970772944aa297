"""Tune's trainable lookup, looked up once per fit.

Tune finds a trial's trainable by name in Ray's key-value store, on every trial and twice
(when it creates the trial and when it schedules its actor): each lookup is two round trips
to the GCS and an unpickling of the trainable, about 2 ms of the driver on a 2-CPU machine.
On trials that train one batch that was a third of the driver's time per trial. A fit's
trainable does not change while the fit runs (Tune registers it before the first trial), so
:func:`memoized_trainable_lookup` memoizes the lookup Tune's ``Trial`` makes, by trainable
name, for the length of one fit, and puts Tune's own function back after it. Where Ray's
module has no such function (another Ray version), nothing is changed.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator


@contextlib.contextmanager
def memoized_trainable_lookup() -> Iterator[None]:
    """Inside the block, ``Trial.get_trainable_cls`` looks each trainable name up once (an
    unknown name still raises Tune's error every time: errors are not memoized)."""
    try:
        from ray.tune.experiment import trial as trial_module
    except ImportError:  # pragma: no cover - a Ray without Tune's Trial module
        yield
        return
    lookup = getattr(trial_module, "get_trainable_cls", None)
    if lookup is None:  # pragma: no cover - another Ray version: leave Tune as it is
        yield
        return
    trial_module.get_trainable_cls = functools.lru_cache(maxsize=None)(lookup)
    try:
        yield
    finally:
        trial_module.get_trainable_cls = lookup
