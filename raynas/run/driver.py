"""``raynas evolve``: run a strategy on Ray Tune, one trial per candidate, rows to Parquet.

Flow: settings -> space (from the model) and dataset (checked to fit, put once in Ray's
object store) -> strategy (rebuilt from the Parquet log on ``--resume``) -> Tune with the
:class:`~raynas.run.searcher.StrategySearcher` and warm, reused workers -> one row per
finished trial (completed, failed or rejected) streamed by :class:`RunRecorder`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from raynas.run.recorder import RunRecorder, tune_callback
from raynas.results.store import ResultsWriter, history, read_run_info, read_trials, write_run_info
from raynas.run.settings import EvolveSettings
from raynas.core.space import SearchSpace

# Tune's own loggers and frequent experiment snapshots are pure overhead here: raynas keeps
# its own Parquet log and resumes from it.
TUNE_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_GLOBAL_CHECKPOINT_S": "3600",
            "RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}


@dataclass
class RunSummary:
    out: Path
    total: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    exhausted: bool = False  # every genome of the space was proposed
    reevaluated: int = 0     # trials that then trained known genomes again

    @property
    def interrupted(self) -> bool:
        """The run stopped before its trials were done (Ctrl-C): ``--resume`` continues it."""
        return sum(self.counts.values()) < self.total


class RunError(ValueError):
    """Bad input to a run, with the rule, the value and the way out."""


def default_out(settings: EvolveSettings) -> Path:
    name = settings.name or (f"{Path(settings.space.split(':')[-1]).stem}-{settings.strategy}-"
                             f"{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    return Path("raynas-runs") / name


def prepare(settings: EvolveSettings):
    """Resolve the space, dataset and strategy class before Ray starts (clear errors)."""
    import raynas.strategies
    from raynas.run.space_source import load_dataset_for, parse_space

    try:
        source = parse_space(settings.space)
        model = source.build()
        space = SearchSpace.from_model(model)
    except ValueError as err:
        raise RunError(str(err)) from None
    try:
        strategy_class = raynas.strategies.get(settings.strategy)
    except KeyError as err:
        raise RunError(f"--strategy: {err.args[0]}") from None
    try:
        bundle, input_shape, num_classes = load_dataset_for(
            source, settings.dataset, data_dir=settings.data_dir, download=settings.download,
            limit=settings.limit)
        check_some_genome_fits(model, space, input_shape, num_classes, settings.dataset)
    except ValueError as err:
        raise RunError(str(err)) from None
    return source, space, strategy_class, bundle, input_shape, num_classes


def check_some_genome_fits(model: Any, space: SearchSpace, input_shape: tuple[int, ...],
                           num_classes: int, dataset: str, tries: int = 8) -> None:
    """A forward pass of the dataset's input through a few genomes (the default first);
    ``ValueError`` when none runs: the data does not fit the space, whatever the genome."""
    import numpy as np

    from raynas.core.fixing import fix
    from raynas.train.loop import check_forward

    rng = np.random.default_rng(0)
    genomes = [space.default()] + [space.sample(rng) for _ in range(min(tries, space.size) - 1)]
    errors = []
    for genome in genomes:
        try:
            check_forward(fix(model, genome), input_shape, num_classes)
            return
        except ValueError as err:
            errors.append(str(err))
    shape = "x".join(str(n) for n in input_shape)
    raise ValueError(
        f"--dataset {dataset}: its {shape} input with {num_classes} classes fits none of "
        f"{len(genomes)} genomes of the space; first error: {errors[0]}. Set input_shape = "
        f"(C, H, W) and num_classes on the space's class (digits is resized to it), or pick a "
        f"dataset of the space's shape")


def make_strategy(strategy_class: Any, space: SearchSpace, settings: EvolveSettings) -> Any:
    """The strategy with the run's seed and budget, and the options it takes."""
    import inspect

    accepted = inspect.signature(strategy_class).parameters
    options: dict[str, Any] = {"seed": settings.seed, "budget": settings.trials}
    for name in ("population_size", "sample_size"):
        value = getattr(settings, name)
        if value is None:
            continue
        if name not in accepted:
            raise RunError(f"--{name.replace('_', '-')} does not apply to strategy "
                           f"{settings.strategy!r}; drop it or use --strategy evolution")
        options[name] = value
    try:
        return strategy_class(space, **options)
    except (TypeError, ValueError) as err:
        raise RunError(f"--strategy {settings.strategy}: {err}") from None


def make_screen(factory: Any, input_shape: tuple[int, ...], max_params: int | None,
                max_flops: int | None):
    """``screen(genome) -> None | (reason, params)``: the constraints checked before training
    (a fixed model's size is known without training), or ``None`` when there are none."""
    if max_params is None and max_flops is None:
        return None
    from raynas.core.fixing import count_flops, count_parameters, fix

    supernet = factory()

    def screen(genome: dict[str, Any]):
        params = count_parameters(supernet, genome)
        if max_params is not None and params > max_params:
            return (f"rejected before training: {params} parameters > --max-params {max_params}",
                    params)
        if max_flops is not None:
            flops = count_flops(fix(supernet, genome), input_shape)
            if flops > max_flops:
                return (f"rejected before training: {flops} FLOPs per sample > --max-flops "
                        f"{max_flops}", params)
        return None

    return screen


def _start_ray(settings: EvolveSettings, runtime_env: dict[str, Any]) -> bool:
    """Start or join Ray; True when this call started it (and must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "configure_logging": True, "logging_level": "ERROR"}
    if runtime_env:
        options["runtime_env"] = runtime_env
    address = settings.address or os.environ.get("RAY_ADDRESS")
    if address:
        options["address"] = address
    else:
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
    return True


# On a cluster joined with --address, nodes may still be coming (the autoscaler adds them
# while trials wait): the default limit does not stop at what is up when the run starts.
CLUSTER_CONCURRENCY = 64


def _max_concurrent(settings: EvolveSettings, remaining: int) -> int:
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
    if settings.address or os.environ.get("RAY_ADDRESS"):
        slots = max(slots, CLUSTER_CONCURRENCY)
    return max(1, min(slots, remaining))


# Settings that shape a run's results: a resumed run keeps them, so its rows stay comparable.
FIXED_ON_RESUME = ("space", "dataset", "limit", "strategy", "population_size", "sample_size",
                   "epochs", "batch_size", "lr", "max_batches_per_epoch", "seed", "max_params",
                   "max_flops")


def resume_settings(run_dir: Path, overrides: dict[str, Any]) -> EvolveSettings:
    """The settings of an earlier run, with the options given again on the command line.

    ``--trials`` and the resource options may change; a setting in ``FIXED_ON_RESUME`` given
    with another value is a ``RunError`` naming it.
    """
    from raynas.run.space_source import run_space_spec

    info = read_run_info(run_dir)
    values = dict(info.get("settings", {}))
    given = {k: v for k, v in overrides.items() if v is not None}
    changed = [f"{k} ({values.get(k)!r} -> {given[k]!r})" for k in FIXED_ON_RESUME
               if k in given and k != "space" and given[k] != values.get(k)]
    if "space" in given and parse_spec_path(given["space"]) != parse_spec_path(values.get("space")):
        changed.append(f"space ({values.get('space')!r} -> {given['space']!r})")
    if changed:
        raise RunError(f"--resume {run_dir} keeps the run's settings that shape its results; "
                       f"changed: {', '.join(changed)}; drop these options, or start a new run "
                       f"with another --out")
    if "space" in values:
        values["space"] = run_space_spec(run_dir, values["space"])
    values.update({k: v for k, v in given.items() if k != "space"})
    values["out"] = str(run_dir)
    return EvolveSettings(**values)


def parse_spec_path(spec: Any) -> Any:
    """A ``FILE.py:Class`` spec with its file resolved (a registered name as is)."""
    if isinstance(spec, str) and ".py:" in spec:
        location, _, attr = spec.rpartition(":")
        return f"{Path(location).expanduser().resolve()}:{attr}"
    return spec


def _same_space(space: SearchSpace, recorded: Any) -> bool:
    """Whether a run's recorded space (its JSON form) has ``space``'s dimensions; lookup
    aids (NNI names and labels, which older runs did not record) do not count."""
    try:
        return recorded is not None and SearchSpace.from_dict(recorded) == space
    except (ValueError, TypeError):
        return False


def evolve(settings: EvolveSettings, resume: bool = False, quiet: bool = False) -> RunSummary:
    """Run (or with ``resume``, continue) a search; returns counts and the best row."""
    for name, value in TUNE_ENV.items():
        os.environ.setdefault(name, value)
    out = Path(settings.out).expanduser() if settings.out else default_out(settings)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; give a folder for the run's results")
    if not resume and (out / "trials").exists() and any((out / "trials").iterdir()):
        raise RunError(f"{out} already holds a run; continue it with `raynas evolve --resume {out}` "
                       f"or choose another --out")
    source, space, strategy_class, bundle, input_shape, num_classes = prepare(settings)
    settings = settings.model_copy(update={"space": source.spec})  # a file space: its full path
    if resume:
        if not _same_space(space, read_run_info(out).get("space")):
            raise RunError(f"{out}: the run's recorded search space differs from {settings.space!r}'s "
                           f"current one; resume with the same space")
    strategy = make_strategy(strategy_class, space, settings)
    writer = ResultsWriter(out, space.keys)
    try:
        source.keep_copy(out)
        rows = read_trials(out)
        if resume and settings.trials < len(rows):
            raise RunError(f"{out} already holds {len(rows)} trials, more than --trials "
                           f"{settings.trials}; pass a larger --trials to continue it")
        if len(rows):
            strategy.replay(list(history(rows)))
        write_run_info(out, {"settings": settings.model_dump(), "space": space.to_dict(),
                             "input_shape": list(input_shape), "num_classes": num_classes,
                             "dataset": repr(bundle), "updated_at": datetime.now().isoformat()})
        done = len(rows)
        best = rows.loc[rows["status"] == "completed", "accuracy"].max() if done else None
        progress = None
        if settings.trials > done:
            progress = _run_tune(settings, source, space, strategy, bundle, input_shape,
                                  num_classes, writer, rows, best, quiet)
    except BaseException:
        writer.close(compact=False)  # every finished trial lands in Parquet; the error stays
        raise
    writer.close()
    summary = summarize(out, settings.trials)
    if progress is not None:
        summary.exhausted, summary.reevaluated = progress.exhausted, progress.reevaluated
    return summary


def _run_tune(settings, source, space, strategy, bundle, input_shape, num_classes, writer,
              rows, best, quiet) -> Any:
    """Run the remaining trials on Ray Tune; returns the searcher's ``SearchProgress``."""
    import ray
    from ray import tune

    from raynas.run.progress import RunProgress
    from raynas.run.searcher import StrategySearcher
    from raynas.train.loop import DEFAULT_BATCH_SIZE, DEFAULT_LR
    from raynas.run.trial import DataHandle, TrialSettings, run_trial

    started_ray = _start_ray(settings, source.runtime_env())
    storage = Path(tempfile.mkdtemp(prefix="raynas-tune-"))
    try:
        done = len(rows)
        remaining = settings.trials - done
        known = {}
        for trial_id, genome_text, status in zip(rows.get("trial_id", []), rows.get("genome", []),
                                                 rows.get("status", [])):
            if status != "rejected":
                known[SearchSpace.genome_id(json.loads(genome_text))] = trial_id
        trial_settings = TrialSettings(
            space=source, input_shape=tuple(input_shape), num_classes=num_classes,
            epochs=settings.epochs, batch_size=settings.batch_size or DEFAULT_BATCH_SIZE,
            lr=settings.lr or DEFAULT_LR,
            cpus_per_trial=settings.cpus_per_trial, gpus_per_trial=settings.gpus_per_trial,
            max_batches_per_epoch=settings.max_batches_per_epoch)
        data = DataHandle(ray.put(bundle))
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, settings=trial_settings, data=data),
            {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
        with RunProgress(settings.trials, done=done, best=best, quiet=quiet) as progress:
            recorder = RunRecorder(writer, space, settings, progress)
            searcher = StrategySearcher(
                strategy, space, total=remaining,
                first_order=int(rows["order"].max()) + 1 if done else 1, trial_seed=settings.seed,
                screen=make_screen(source.factory(), input_shape, settings.max_params,
                                   settings.max_flops),
                on_rejected=recorder.rejected, known_trials=known)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=searcher, num_samples=-1,
                                            max_concurrent_trials=_max_concurrent(settings, remaining),
                                            reuse_actors=True),
                run_config=tune.RunConfig(
                    name="raynas", storage_path=str(storage), verbose=0,
                    callbacks=[tune_callback(recorder)],
                    failure_config=tune.FailureConfig(max_failures=settings.max_failures),
                    checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))
            tuner.fit()
        return searcher.progress
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if started_ray:
            ray.shutdown()


def summarize(out: Path, total: int) -> RunSummary:
    from raynas.results.store import counts, ranked

    rows = read_trials(out)
    best = ranked(rows)
    return RunSummary(out=out, total=total, counts=counts(rows),
                      best=best.iloc[0].to_dict() if len(best) else None)
