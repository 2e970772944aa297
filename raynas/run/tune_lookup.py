"""Tune's trainable lookups, made once per fit.

Tune finds a trial's trainable by name in Ray's key-value store, on every trial and three
times: it checks that the name is registered when it creates the trial, then loads the
trainable when it computes the trial's resources and when it schedules the trial's actor.
A check is a round trip to the GCS; a load is two and an unpickling of the trainable, about
2 ms of the driver on a 2-CPU machine (where the GCS shares the cores). On trials that train
one batch that was a third of the driver's time per trial. A fit's trainable does not change
while the fit runs (Tune registers it before the first trial), so
:func:`memoized_trainable_lookup` memoizes both lookups that Tune's ``Trial`` makes, by
trainable name, for the length of one fit, and puts Tune's own functions back after it.
Where Ray's module lacks one of them (another Ray version), that one is left as it is.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

#: The registry lookups of ``ray.tune.experiment.trial`` that are memoized within a fit.
LOOKUPS = ("get_trainable_cls", "validate_trainable")


@contextlib.contextmanager
def memoized_trainable_lookup() -> Iterator[None]:
    """Inside the block, ``Trial`` checks and loads each trainable name once (an unknown
    name still raises Tune's error every time: errors are not memoized)."""
    try:
        from ray.tune.experiment import trial as trial_module
    except ImportError:  # pragma: no cover - a Ray without Tune's Trial module
        yield
        return
    originals = {name: getattr(trial_module, name) for name in LOOKUPS
                 if callable(getattr(trial_module, name, None))}
    for name, lookup in originals.items():
        setattr(trial_module, name, functools.lru_cache(maxsize=None)(lookup))
    try:
        yield
    finally:
        for name, lookup in originals.items():
            setattr(trial_module, name, lookup)
