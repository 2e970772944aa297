"""Train one fixed architecture from scratch and save its weights (``raynas train``).

The architecture is a genome file (``--arch``, e.g. from ``raynas export``) or a trial of a
run (``--run DIR [--trial-id ID]``, the best trial by default; the run's space, dataset and
training settings become the defaults). The model is ``fix(factory, genome)`` built after
``torch.manual_seed(seed)``, trained with :func:`raynas.train.loop.train_model` (the loop the
trials use), then evaluated on the validation and test splits.

``save`` (``model.pt``) receives the trained ``state_dict`` (CPU tensors), which loads into
``fix(factory, genome)``, and ``model.meta.json`` beside it: genome, space, dataset,
normalization (mean/std: the model expects normalized inputs), settings and accuracies.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field

from raynas.core.files import atomic_write_text
from raynas.core.files import check_writable
from raynas.run.settings import trial_seed, trial_threads
from raynas.train.loop import DEFAULT_BATCH_SIZE

__all__ = ["TrainError", "TrainSettings", "meta_path", "retrain_inputs", "train"]


class TrainSettings(BaseModel):
    """What ``raynas train`` trains with; ``None``: the run's value (``--run``), else the
    default in brackets."""

    model_config = ConfigDict(extra="forbid")

    space: Optional[str] = Field(None, description="Registered space, FILE.py:Class or "
                                 "module:Class. [the run's, or mnist]")
    dataset: Optional[str] = Field(None, description="Dataset name (raynas list). [the run's, "
                                   "or digits]")
    data_dir: Optional[str] = Field(None, description="Folder of the torchvision datasets.")
    download: Optional[bool] = Field(None, description="Download a missing dataset.")
    limit: Optional[int] = Field(None, ge=1, description="Use only this many training images.")
    epochs: int = Field(10, ge=1, description="Training epochs (at least 1).")
    batch_size: Optional[int] = Field(None, ge=1, description="Batch size. [the run's, or the "
                                      "trainer's 32]")
    lr: Optional[float] = Field(None, gt=0, description="Learning rate. [the run's, or the "
                                "trainer's]")
    seed: Optional[int] = Field(None, description="Seed of the initialization and shuffling. "
                                "[with --run: the trial's own, so the same settings reproduce "
                                "its search result; else 0]")
    save: Path = Field(Path("model.pt"), description="Where to write the trained state_dict "
                       "(+ .meta.json).")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    threads: Optional[int] = Field(None, ge=1, description="torch intra-op threads (the "
                                   "thread count changes float sums, so results). [with --run: "
                                   "the trial's, one per CPU it reserved; else torch's default]")


class TrainError(ValueError):
    """A problem with the inputs of ``raynas train``, stated for the user."""


def meta_path(save: Path) -> Path:
    """The metadata file beside ``save``: ``model.pt`` -> ``model.meta.json``."""
    return save.with_name(save.stem + ".meta.json")


def _run_settings(run_dir: Path, info: Any) -> dict[str, Any]:
    """A run's settings, its space usable here (a moved space file: the run's own copy)."""
    from raynas.results.run_dir import RunDir

    settings = dict(info.settings)
    if settings.get("space"):
        settings["space"] = RunDir(run_dir).space_spec(settings["space"])
    return settings


def _run_trial(run_dir: Path, trial_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(settings of the run, the trial's row)``; the best completed trial when no id."""
    from raynas.results.run_dir import RunDir
    from raynas.results.objectives import DEFAULT_OBJECTIVES, best_by_objectives, run_objectives
    from raynas.results.store import ResultsError, ranked_genomes, read_trials

    try:
        info = RunDir(run_dir).read_info()
        frame = read_trials(run_dir)
    except ResultsError as err:
        raise TrainError(f"--run: {err}") from None
    if trial_id is None:
        objectives = run_objectives(info)
        # one objective, accuracy: the best genome (mean accuracy), its best trial; else the
        # front's first: best by the first objective
        best = ranked_genomes(frame) if objectives == DEFAULT_OBJECTIVES else \
            best_by_objectives(frame, objectives)
        if not len(best):
            raise TrainError(f"--run {run_dir}: no completed trial to train; pass --trial-id")
        trial_id = best.iloc[0]["trial_id"]
    rows = frame[frame["trial_id"] == trial_id]
    if not len(rows):
        known = ", ".join(map(str, frame["trial_id"].head(10)))
        raise TrainError(f"--trial-id {trial_id!r} is not a trial of {run_dir}; its trials "
                         f"include: {known}")
    return _run_settings(run_dir, info), rows.iloc[0].to_dict()


def _device(spec: str) -> Any:
    import torch

    from raynas.train.loop import select_device

    if spec == "auto":
        return select_device(prefer_gpu=True)
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise TrainError(f"--device {spec!r} is not a device; use auto, cpu, cuda or cuda:N") \
            from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"--device {spec}: CUDA is not available on this machine; use "
                         f"--device cpu or auto")
    return device


class _Progress:
    """A rich bar over training batches on stderr (a line per epoch when not a terminal)."""

    def __init__(self, epochs: int, batches_per_epoch: int, quiet: bool):
        from rich.console import Console

        from raynas.run.progress import progress_bar

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.epochs = epochs
        self.per_epoch = batches_per_epoch
        self.bar = progress_bar("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}",
                                "status", console=self.console)
        self.task = self.bar.add_task("train", total=max(1, epochs * batches_per_epoch),
                                      epoch=min(1, epochs), epochs=epochs, status="")

    def __enter__(self) -> "_Progress":
        if self.live:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.bar.stop()

    def batch(self, *_: Any) -> None:
        if self.live:
            self.bar.advance(self.task)

    def epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        line = (f"epoch {epoch}/{self.epochs}: train loss {metrics['train_loss']:.4f}  "
                f"val acc {metrics['accuracy']:.4f}  val loss {metrics['loss']:.4f} "
                f"({metrics['epoch_seconds']:.1f}s)")
        if self.live:
            self.bar.console.print(line, highlight=False)
            self.bar.update(self.task, completed=epoch * self.per_epoch,
                            epoch=min(epoch + 1, self.epochs),
                            status=f"val acc {metrics['accuracy']:.4f}")
        elif not self.quiet:
            print(line, file=sys.stderr, flush=True)


def _batches_per_epoch(n: int, batch_size: int) -> int:
    count = math.ceil(n / batch_size)
    return count - 1 if count > 1 and n % batch_size == 1 else count  # as train_model drops it


def train(*, space: str, genome: Mapping[str, Any], dataset: str, epochs: int, save: Path,
          data_dir: str | None = None, download: bool = False, limit: int | None = None,
          batch_size: int = DEFAULT_BATCH_SIZE, lr: float | None = None, seed: int = 0,
          device: str = "auto", threads: int | None = None, quiet: bool = False,
          source_note: Mapping[str, Any] | None = None,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``fix(space, genome)`` on ``dataset`` from scratch; save weights and metadata.

    Returns the metadata written to :func:`meta_path` ``(save)``. Raises :class:`TrainError`
    for an unknown space or dataset, a genome that does not fit the space, or a dataset that
    does not fit the model, and a ``ValueError`` naming ``save``'s folder when it cannot be
    written (checked before training). ``threads`` sets torch's intra-op thread count for the
    training (restored after): the trials of a run use :func:`trial_threads`, and the thread
    count changes the float sums, so a retrain reproduces a trial only with the same count.
    """
    import torch

    save = Path(save)
    if save.is_dir():
        raise TrainError(f"--save {save} is a folder; give a file path such as {save / 'model.pt'}")
    check_writable(save.parent if str(save.parent) else Path("."), "--save folder")
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(space=space, genome=genome, dataset=dataset, epochs=epochs, save=save,
                      data_dir=data_dir, download=download, limit=limit, batch_size=batch_size,
                      lr=lr, seed=seed, device=device, threads=torch.get_num_threads(),
                      quiet=quiet, source_note=source_note, log=log)
    finally:
        torch.set_num_threads(threads_before)


def _train(*, space: str, genome: Mapping[str, Any], dataset: str, epochs: int, save: Path,
           data_dir: str | None, download: bool, limit: int | None, batch_size: int,
           lr: float | None, seed: int, device: str, threads: int, quiet: bool,
           source_note: Mapping[str, Any] | None, log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from raynas.core.fixing import count_parameters, fix
    from raynas.run.space_source import load_dataset_for, parse_space
    from raynas.core.measure import check_forward
    from raynas.train.loop import DEFAULT_LR, TrainingDiverged, evaluate, train_model

    try:
        source = parse_space(space)
    except ValueError as err:
        raise TrainError(f"--space: {err}") from None
    run_device = _device(device)
    torch.manual_seed(seed)
    try:
        model = fix(source.factory(), genome)
    except ValueError as err:
        what = f"the architecture {source_note['arch']}" if source_note and "arch" in source_note \
            else "the architecture"
        raise TrainError(f"{what} does not fit space {space!r}: {err}") from None
    try:
        bundle, input_shape, num_classes = load_dataset_for(source, dataset, data_dir=data_dir,
                                                            download=download, limit=limit)
        check_forward(model, input_shape, num_classes)
    except ValueError as err:
        raise TrainError(str(err)) from None
    params = count_parameters(model)
    sizes = bundle.sizes()
    log(f"training space {space}, dataset {dataset} (train {sizes['train']}, valid "
               f"{sizes['valid']}, test {sizes['test']}), {params:,} parameters, {epochs} "
               f"epoch(s) on {run_device}")
    lr = float(lr) if lr is not None else DEFAULT_LR
    progress = _Progress(epochs, _batches_per_epoch(sizes["train"], batch_size), quiet)
    hook = model.register_forward_hook(
        lambda module, args, out: progress.batch() if module.training else None)
    try:
        with progress:
            result = train_model(model, bundle, epochs, batch_size=batch_size, lr=lr,
                                 device=run_device, seed=seed, on_epoch=progress.epoch)
    except TrainingDiverged as err:
        raise TrainError(str(err)) from None
    finally:
        hook.remove()
    test_accuracy, test_loss = evaluate(model, bundle.test_x, bundle.test_y, mean=bundle.mean,
                                        std=bundle.std, device=run_device)
    try:
        save.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, save)
    except OSError as err:
        raise TrainError(f"cannot write --save {save}: {err.strerror or err}") from None
    meta = {
        "weights": save.name, "genome": dict(genome), "space": space, "dataset": dataset,
        "data_dir": data_dir, "limit": limit, "input_shape": list(input_shape),
        "num_classes": num_classes, "mean": list(bundle.mean), "std": list(bundle.std),
        "class_names": list(bundle.class_names), "params": params, "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "seed": seed, "threads": threads,
        "device": str(run_device),
        "valid_accuracy": result.accuracy, "valid_loss": result.loss,
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "train_seconds": result.train_seconds, "history": result.history,
        "torch": torch.__version__, "python": platform.python_version(),
        "created_at": datetime.now(timezone.utc).isoformat(),
        **({"source": dict(source_note)} if source_note else {}),
    }
    atomic_write_text(meta_path(save), json.dumps(meta, indent=2, default=str) + "\n")
    return meta


def retrain_inputs(arch_file: Path | None, run_dir: Path | None, trial_id: str | None,
                   given: TrainSettings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(train keyword arguments, genome, note of its origin)`` from an architecture file or
    a run's trial; options given win over the run's settings, which win over the defaults."""
    from raynas.core.architecture import load_architecture

    defaults: dict[str, Any] = {}
    note: dict[str, Any] = {}
    seed = given.seed
    save = given.save
    if trial_id is not None and run_dir is None:
        raise TrainError("--trial-id needs --run DIR")
    if arch_file is None and run_dir is None:
        raise TrainError("give the architecture: --arch FILE.json, or --run DIR "
                         "[--trial-id ID]")
    if arch_file is not None and trial_id is not None:
        raise TrainError("give either --arch or --trial-id, not both")
    if run_dir is not None:
        defaults, row = _run_trial(run_dir, trial_id)
        note = {"run": str(run_dir), "trial_id": row["trial_id"]}
        if row.get("accuracy") == row.get("accuracy") and row.get("accuracy") is not None:
            note["search_accuracy"] = float(row["accuracy"])
        genome = json.loads(row["genome"])
        if seed is None:
            seed = trial_seed(int(defaults.get("seed") or 0), int(row["order"]))
    if arch_file is not None:
        if not arch_file.is_file():
            raise TrainError(f"--arch {arch_file}: no such file")
        try:
            genome = load_architecture(arch_file)
        except (ValueError, OSError) as err:
            raise TrainError(f"--arch: {err}") from None
        note["arch"] = str(arch_file)
        if meta_path(save).resolve() == arch_file.resolve() or \
                save.resolve() == arch_file.resolve():
            raise TrainError(f"--save {save} would overwrite --arch {arch_file}; choose "
                             f"another --save")

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(given, name)
        return value if value is not None else (defaults.get(name) or fallback)

    kwargs = dict(space=pick("space", "mnist"), dataset=pick("dataset", "digits"),
                  data_dir=pick("data_dir", None), download=bool(pick("download", False)),
                  limit=pick("limit", None), batch_size=pick("batch_size", DEFAULT_BATCH_SIZE),
                  lr=pick("lr", None), epochs=given.epochs, seed=0 if seed is None else seed,
                  save=save, device=given.device, threads=given.threads)
    if run_dir is not None and given.threads is None:  # the trials' thread count
        kwargs["threads"] = trial_threads(float(defaults.get("cpus_per_trial") or 1.0))
    return kwargs, genome, note
