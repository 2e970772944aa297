"""Ray's lifecycle for a run: Tune's environment, starting or joining Ray, trials at once."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Iterator

from raynas.run.errors import RunError
from raynas.run.settings import EvolveSettings

# Tune's own loggers and frequent experiment snapshots are pure overhead here: raynas keeps
# its own Parquet log and resumes from it.
TUNE_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_GLOBAL_CHECKPOINT_S": "3600",
            "RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}

# On a cluster joined with --address, nodes may still be coming (the autoscaler adds them
# while trials wait): the default limit does not stop at what is up when the run starts.
CLUSTER_CONCURRENCY = 64


def set_tune_env() -> None:
    """Tune's settings for raynas (a value the user set in the environment wins)."""
    for name, value in TUNE_ENV.items():
        os.environ.setdefault(name, value)


def _address(settings: EvolveSettings) -> str | None:
    return settings.address or os.environ.get("RAY_ADDRESS")


@contextlib.contextmanager
def ray_session(settings: EvolveSettings, runtime_env: dict[str, Any]) -> Iterator[None]:
    """Ray for the run: joined when it is already up (and left up), else started here (a
    local Ray, or the cluster at ``--address`` / ``RAY_ADDRESS``) and shut down after."""
    import ray

    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "configure_logging": True, "logging_level": "ERROR"}
    if runtime_env:
        options["runtime_env"] = runtime_env
    address = _address(settings)
    if address:
        options["address"] = address
    else:  # a new Ray on this machine, never a cluster some other process started here
        options["address"] = "local"
        if settings.num_cpus is not None:
            options["num_cpus"] = settings.num_cpus
        if settings.num_gpus is not None:
            options["num_gpus"] = settings.num_gpus
    try:
        ray.init(**options)
    except ConnectionError as err:
        raise RunError(f"cannot join a Ray cluster at {address!r}: {err}; start one (`ray start "
                       f"--head` or `ray up cluster/...yaml`) or drop --address / RAY_ADDRESS to "
                       f"run on this machine") from None
    try:
        yield
    finally:
        ray.shutdown()


def max_concurrent(settings: EvolveSettings, remaining: int) -> int:
    """Trials alive at once: ``--max-concurrent``, else what the resources hold (on a joined
    cluster at least ``CLUSTER_CONCURRENCY``; Tune then keeps one trial pending, which is what
    asks the autoscaler for a node)."""
    import ray

    if settings.max_concurrent:
        return max(1, min(settings.max_concurrent, remaining))
    resources = ray.cluster_resources()
    slots = math.floor(resources.get("CPU", 0) / settings.cpus_per_trial + 1e-9)
    if settings.gpus_per_trial > 0:
        slots = min(slots, math.floor(resources.get("GPU", 0) / settings.gpus_per_trial + 1e-9))
    if _address(settings):
        slots = max(slots, CLUSTER_CONCURRENCY)
    return max(1, min(slots, remaining))
