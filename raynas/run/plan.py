"""A run's plan: everything resolved and checked before Ray starts.

:meth:`RunPlan.build` turns :class:`EvolveSettings` into the space (built from the model),
the strategy class, the dataset (checked to fit the space) and the run folder, or raises a
:class:`RunError` that names the setting. The driver then only orchestrates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from raynas.core.space import SearchSpace
from raynas.core.space_spec import SpaceSpec
from raynas.datasets.sources import DatasetBundle
from raynas.core.files import check_writable
from raynas.results.run_dir import RunDir, RunInfo
from raynas.results.store import ResultsError
from raynas.run.errors import RunError
from raynas.run.settings import EvolveSettings, strategy_options
from raynas.run.space_source import SpaceSource, load_dataset_for, parse_space

# screen(genome) -> None to train it, or (reason, params) to reject it before training.
Screen = Callable[[dict[str, Any]], Optional[tuple[str, Optional[int]]]]


def default_out(settings: EvolveSettings) -> Path:
    """``./raynas-runs/<name>``; the name defaults to space, strategy and the time."""
    if settings.name:
        return Path("raynas-runs") / settings.name
    try:
        stem = SpaceSpec.parse(settings.space).stem
    except ValueError as err:
        raise RunError(str(err)) from None
    name = f"{stem}-{settings.strategy}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Path("raynas-runs") / name


@dataclass(frozen=True)
class RunPlan:
    """A checked run: its settings (``space`` resolved to a full spec), folder and inputs."""

    settings: EvolveSettings
    run_dir: RunDir
    resume: bool
    source: SpaceSource
    space: SearchSpace
    strategy_class: type
    data: DatasetBundle
    input_shape: tuple[int, int, int]
    num_classes: int

    @classmethod
    def build(cls, settings: EvolveSettings, resume: bool = False) -> "RunPlan":
        """Resolve and check ``settings``; a :class:`RunError` names what is wrong."""
        run_dir = _check_out(settings, resume)
        source, model, space = _resolve_space(settings.space)
        strategy_class = _resolve_strategy(settings.strategy)
        try:
            data, input_shape, num_classes = load_dataset_for(
                source, settings.dataset, data_dir=settings.data_dir, download=settings.download,
                limit=settings.limit)
            _check_some_genome_fits(model, space, input_shape, num_classes, settings.dataset)
        except ValueError as err:
            raise RunError(str(err)) from None
        settings = settings.model_copy(update={"space": source.spec})  # a file: its full path
        if resume:
            _check_same_space(run_dir, space, settings.space)
        return cls(settings, run_dir, resume, source, space, strategy_class, data,
                   tuple(input_shape), int(num_classes))

    def make_strategy(self) -> Any:
        """The strategy with the run's seed and budget, and the options given for it."""
        import inspect

        accepted = inspect.signature(self.strategy_class).parameters
        options = strategy_options(self.settings)
        if "objectives" in accepted:
            options["objectives"] = self.settings.objectives
        elif self.settings.objectives != {"accuracy": "max"}:
            raise RunError(f"--objective: strategy {self.settings.strategy!r} takes no objectives; "
                           f"use --strategy evolution or random")
        for name in options:
            if name not in accepted and name != "objectives":
                raise RunError(f"--{name.replace('_', '-')} does not apply to strategy "
                               f"{self.settings.strategy!r}; drop it or use --strategy evolution")
        try:
            return self.strategy_class(self.space, seed=self.settings.seed,
                                       budget=self.settings.trials, **options)
        except (TypeError, ValueError) as err:
            raise RunError(f"--strategy {self.settings.strategy}: {err}") from None

    def run_info(self) -> RunInfo:
        """What ``run.json`` records of this run."""
        return RunInfo(settings=self.settings.model_dump(), space=self.space.to_dict(),
                       objectives=self.settings.objectives,
                       input_shape=list(self.input_shape), num_classes=self.num_classes,
                       dataset=repr(self.data), updated_at=datetime.now().isoformat())

    def trial_settings(self) -> Any:
        """What every trial of the run shares (:class:`~raynas.run.trial.TrialSettings`)."""
        from raynas.run.trial import TrialSettings
        from raynas.train.loop import DEFAULT_BATCH_SIZE, DEFAULT_LR

        s = self.settings
        return TrialSettings(space=self.source, input_shape=self.input_shape,
                             num_classes=self.num_classes, epochs=s.epochs,
                             batch_size=s.batch_size or DEFAULT_BATCH_SIZE, lr=s.lr or DEFAULT_LR,
                             cpus_per_trial=s.cpus_per_trial, gpus_per_trial=s.gpus_per_trial,
                             max_batches_per_epoch=s.max_batches_per_epoch,
                             max_latency_ms=s.max_latency_ms)

    def screen(self) -> Screen | None:
        """The constraints checked before training (see :func:`make_screen`)."""
        return make_screen(self.source.factory(), self.input_shape, self.settings.max_params,
                           self.settings.max_flops)


def make_screen(factory: Callable[[], Any], input_shape: tuple[int, ...],
                max_params: int | None, max_flops: int | None) -> Screen | None:
    """``screen(genome) -> None | (reason, params)``: the constraints checked before training
    (a fixed model's size is known without training), or ``None`` when there are none."""
    if max_params is None and max_flops is None:
        return None
    from raynas.core.fixing import count_parameters, fix
    from raynas.core.flops import count_flops
    from raynas.core.values import supernet_or_factory

    supernet = supernet_or_factory(factory)  # the factory itself when it holds value choices

    def screen(genome: dict[str, Any]) -> tuple[str, int] | None:
        params = count_parameters(supernet, genome)
        if max_params is not None and params > max_params:
            return (f"rejected before training: {params} parameters > --max-params "
                    f"{max_params}", params)
        if max_flops is not None:
            flops = count_flops(fix(supernet, genome), input_shape)
            if flops > max_flops:
                return (f"rejected before training: {flops} FLOPs per sample > --max-flops "
                        f"{max_flops}", params)
        return None

    return screen


def _check_out(settings: EvolveSettings, resume: bool) -> RunDir:
    out = Path(settings.out).expanduser() if settings.out else default_out(settings)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; give a folder for the run's results")
    flag = "--resume" if resume else "--out"
    try:
        check_writable(out, flag)
    except ValueError as err:
        raise RunError(str(err)) from None
    run_dir = RunDir(out)
    if not resume and run_dir.holds_trials():
        raise RunError(f"{out} already holds a run; continue it with `raynas evolve --resume {out}` "
                       f"or choose another --out")
    return run_dir


def _resolve_space(spec: str) -> tuple[SpaceSource, Any, SearchSpace]:
    try:
        source = parse_space(spec)
        model = source.build_for_search()  # the supernet, or the factory (value choices)
        return source, model, SearchSpace.from_model(model)
    except ValueError as err:
        raise RunError(str(err)) from None


def _resolve_strategy(name: str) -> type:
    import raynas.strategies

    try:
        return raynas.strategies.get(name)
    except KeyError as err:
        raise RunError(f"--strategy: {err.args[0]}") from None


def _check_some_genome_fits(model: Any, space: SearchSpace, input_shape: tuple[int, ...],
                            num_classes: int, dataset: str) -> None:
    from raynas.core.measure import check_some_genome_fits

    try:
        check_some_genome_fits(model, space, input_shape, num_classes)
    except ValueError as err:
        raise ValueError(
            f"--dataset {dataset}: {err}. Set input_shape = (C, H, W) and num_classes on the "
            f"space's class (digits is resized to it), or pick a dataset of the space's shape"
        ) from None


def _check_same_space(run_dir: RunDir, space: SearchSpace, spec: str) -> None:
    try:
        recorded = run_dir.read_resumable_info().space
    except ResultsError as err:
        raise RunError(str(err)) from None
    if not _same_space(space, recorded):
        raise RunError(f"{run_dir.path}: the run's recorded search space differs from {spec!r}'s "
                       f"current one; resume with the same space")


def _same_space(space: SearchSpace, recorded: Any) -> bool:
    """Whether a run's recorded space (its JSON form) has ``space``'s dimensions; lookup
    aids (NNI names and labels, which older runs did not record) do not count."""
    try:
        return recorded is not None and SearchSpace.from_dict(recorded) == space
    except (ValueError, TypeError):
        return False
