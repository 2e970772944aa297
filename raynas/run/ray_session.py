"""Ray's lifecycle for a run: Tune's environment, starting or joining Ray, trials at once."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
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


def gpu_shortfall(gpus_per_trial: float, resources: dict[str, float], address: str | None,
                  node_types: dict[str, dict[str, float]] | None) -> tuple[bool, str] | None:
    """Whether the trials' GPU request can run: ``None`` when the cluster has the GPUs, else
    ``(fatal, message)``.

    Fatal: on a local Ray (no ``address``) without a GPU, and on a cluster with no
    autoscaler (``node_types`` None) or whose autoscaler's node types have no GPU. Not fatal
    (the trials wait, the message says what for): a cluster whose autoscaler may add a node
    type with enough GPUs (``node_types``: name -> resources; empty when the autoscaler runs
    but its node types are unknown).
    """
    if gpus_per_trial <= 0 or resources.get("GPU", 0) + 1e-9 >= min(gpus_per_trial, 1.0):
        return None
    have = f"CPU {resources.get('CPU', 0):g}, GPU {resources.get('GPU', 0):g}"
    wanted = f"--gpus-per-trial {gpus_per_trial:g} asks for a GPU for every trial"
    if not address:
        return True, (f"{wanted}, but the local Ray has none ({have}); drop --gpus-per-trial to "
                      f"train on CPUs, pass --num-gpus N if this machine has GPUs Ray did not "
                      f"detect, or --address to use a cluster with GPUs")
    if node_types is None:
        return True, (f"{wanted}, but the Ray cluster at {address} has none ({have}) and no "
                      f"autoscaler that could add a GPU node; start GPU workers (`ray start "
                      f"--address ... --num-gpus N`) or drop --gpus-per-trial")
    need = min(gpus_per_trial, 1.0)
    serving = {name: res for name, res in node_types.items() if res.get("GPU", 0) >= need}
    if node_types and not serving:
        return True, (f"{wanted}, but the Ray cluster at {address} has none ({have}) and its "
                      f"autoscaler's node types ({', '.join(sorted(node_types))}) have no GPU; "
                      f"add a GPU node type to the cluster YAML or drop --gpus-per-trial")
    types = (", ".join(f"{name} (GPU {res.get('GPU', 0):g})" for name, res in sorted(serving.items()))
             if serving else "node types not reported by the autoscaler")
    return False, (f"waiting for a GPU: {wanted} and the Ray cluster at {address} has none yet "
                   f"({have}); its autoscaler may add a node of: {types}; trials stay pending "
                   f"until one joins (Ctrl-C stops the run, every finished trial saved)")


BOOTSTRAP_CONFIG = "~/ray_bootstrap_config.yaml"


def autoscaler_node_types(path: str = BOOTSTRAP_CONFIG) -> dict[str, dict[str, float]] | None:
    """The node types the cluster's autoscaler may add (name -> resources), read from the
    autoscaling config ``ray up`` leaves on the head (``~/ray_bootstrap_config.yaml``, where
    ``raynas evolve`` runs under ``ray exec``/``ray job submit``); ``None`` without one (a
    cluster of ``ray start`` nodes: Ray's monitor then only mirrors the nodes that exist)."""
    import yaml

    file = Path(path).expanduser()
    if not file.is_file():
        return None
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    types = config.get("available_node_types") or {}
    return {str(name): dict((spec or {}).get("resources") or {})
            for name, spec in types.items() if isinstance(spec, dict)}


def check_gpus(settings: EvolveSettings, say: Any = print) -> str | None:
    """Fail at once (:class:`RunError`) when the trials ask for GPUs the Ray cannot have; when
    they may come (an autoscaler), say so with ``say`` and return the waiting message."""
    import ray

    verdict = gpu_shortfall(settings.gpus_per_trial, ray.cluster_resources(), _address(settings),
                            autoscaler_node_types() if _address(settings) else None)
    if verdict is None:
        return None
    fatal, message = verdict
    if fatal:
        raise RunError(message)
    say(message)
    return message


def waiting_reminder(message: str, every_s: float = 60.0) -> Any:
    """A Tune callback that repeats ``message`` (with the time waited and the pending trials)
    every ``every_s`` seconds until the first trial starts."""
    import time

    from ray.tune import Callback

    class WaitingReminder(Callback):
        def __init__(self) -> None:
            self.start = self.last = time.monotonic()
            self.started = False

        def on_trial_start(self, iteration, trials, trial, **info):
            self.started = True

        def on_step_end(self, iteration, trials, **info):
            now = time.monotonic()
            if not self.started and now - self.last >= every_s:
                self.last = now
                pending = sum(1 for t in trials if t.status == "PENDING")
                print(f"still {message.split(':', 1)[0]} after {now - self.start:.0f} s, "
                      f"{pending} trial(s) pending: {message.split(':', 1)[1].strip()}",
                      flush=True)

    return WaitingReminder()
