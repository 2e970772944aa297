"""``raynas train``: train one fixed architecture from scratch and save its weights.

The architecture is a genome file (``--arch``, e.g. from ``raynas export``) or a trial of a
run (``--run DIR [--trial-id ID]``, the best trial by default; the run's space, dataset and
training settings become the defaults). The model is ``fix(factory, genome)`` built after
``torch.manual_seed(seed)``, trained with :func:`raynas.train.loop.train_model` (the loop the
trials use), then evaluated on the validation and test splits.

``--save model.pt`` writes the trained ``state_dict`` (CPU tensors), which loads into
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
from typing import Any, Mapping

import click

from raynas.run.settings import trial_seed
from raynas.train.loop import DEFAULT_BATCH_SIZE

__all__ = ["TrainError", "meta_path", "train_command"]


class TrainError(ValueError):
    """A problem with the inputs of ``raynas train``, stated for the user."""


def meta_path(save: Path) -> Path:
    """The metadata file beside ``save``: ``model.pt`` -> ``model.meta.json``."""
    return save.with_name(save.stem + ".meta.json")


def _run_settings(run_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """A run's settings, its space usable here (a moved space file: the run's own copy)."""
    from raynas.run.space_source import run_space_spec

    settings = dict(info.get("settings") or {})
    if settings.get("space"):
        settings["space"] = run_space_spec(run_dir, settings["space"])
    return settings


def _run_trial(run_dir: Path, trial_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(settings of the run, the trial's row)``; the best completed trial when no id."""
    from raynas.results.store import ResultsError, ranked, read_run_info, read_trials

    try:
        info = read_run_info(run_dir)
        frame = read_trials(run_dir)
    except ResultsError as err:
        raise TrainError(f"--run: {err}") from None
    if trial_id is None:
        best = ranked(frame)
        if not len(best):
            raise TrainError(f"--run {run_dir}: no completed trial to train; pass --trial-id")
        return _run_settings(run_dir, info), best.iloc[0].to_dict()
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
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.epochs = epochs
        self.per_epoch = batches_per_epoch
        self.bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                            BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
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
          device: str = "auto", quiet: bool = False,
          source_note: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train ``fix(space, genome)`` on ``dataset`` from scratch; save weights and metadata.

    Returns the metadata written to :func:`meta_path` ``(save)``. Raises :class:`TrainError`
    for an unknown space or dataset, a genome that does not fit the space, or a dataset that
    does not fit the model.
    """
    import torch

    from raynas.core.fixing import count_parameters, fix
    from raynas.run.space_source import load_dataset_for, parse_space
    from raynas.train.loop import DEFAULT_LR, TrainingDiverged, check_forward, evaluate, train_model

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
    click.echo(f"training space {space}, dataset {dataset} (train {sizes['train']}, valid "
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
    save.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, save)
    meta = {
        "weights": save.name, "genome": dict(genome), "space": space, "dataset": dataset,
        "data_dir": data_dir, "limit": limit, "input_shape": list(input_shape),
        "num_classes": num_classes, "mean": list(bundle.mean), "std": list(bundle.std),
        "class_names": list(bundle.class_names), "params": params, "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "seed": seed, "device": str(run_device),
        "valid_accuracy": result.accuracy, "valid_loss": result.loss,
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "train_seconds": result.train_seconds, "history": result.history,
        "torch": torch.__version__, "python": platform.python_version(),
        "created_at": datetime.now(timezone.utc).isoformat(),
        **({"source": dict(source_note)} if source_note else {}),
    }
    meta_path(save).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return meta


def _fail(message: str) -> None:
    click.echo(f"raynas train: error: {message}", err=True)
    sys.exit(2)


@click.command("train")
@click.option("--arch", "arch_file", type=click.Path(path_type=Path),
              help="Architecture JSON file (raynas export, or an NNI v1 export).")
@click.option("--run", "run_dir", type=click.Path(path_type=Path),
              help="Take the architecture and defaults from this run (instead of --arch).")
@click.option("--trial-id", help="With --run: the trial to train. [the best one]")
@click.option("--space", help="Registered space, FILE.py:Class or module:Class. [the run's, or mnist]")
@click.option("--dataset", help="Dataset name (raynas list). [the run's, or digits]")
@click.option("--data-dir", help="Folder of the torchvision datasets.")
@click.option("--download/--no-download", default=None, help="Download a missing dataset.")
@click.option("--limit", type=click.IntRange(min=1), help="Use only this many training images.")
@click.option("--epochs", type=click.IntRange(min=0), default=10, show_default=True,
              help="Training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size. [the run's, or the trainer's 32]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Learning rate. [the run's, or the trainer's]")
@click.option("--seed", type=int,
              help="Seed of the initialization and shuffling. [with --run: the trial's own, "
                   "so the same settings reproduce its search result; else 0]")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default="model.pt",
              show_default=True, help="Where to write the trained state_dict (+ .meta.json).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_command(arch_file: Path | None, run_dir: Path | None, trial_id: str | None,
                  space: str | None, dataset: str | None, data_dir: str | None,
                  download: bool | None, limit: int | None, epochs: int,
                  batch_size: int | None, lr: float | None, seed: int | None, save: Path,
                  device: str, quiet: bool) -> None:
    """Train one fixed architecture from scratch and save its weights.

    The saved state_dict loads into raynas.fix(model, genome); model.meta.json beside it
    holds the genome, the dataset's normalization and the accuracies.
    """
    from raynas.core.architecture import load_architecture

    try:
        defaults: dict[str, Any] = {}
        note: dict[str, Any] = {}
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
        meta = train(
            space=space or defaults.get("space") or "mnist",
            dataset=dataset or defaults.get("dataset") or "digits",
            data_dir=data_dir if data_dir is not None else defaults.get("data_dir"),
            download=bool(download if download is not None else defaults.get("download")),
            limit=limit if limit is not None else defaults.get("limit"),
            batch_size=batch_size or defaults.get("batch_size") or DEFAULT_BATCH_SIZE,
            lr=lr if lr is not None else defaults.get("lr"),
            genome=genome, epochs=epochs, seed=0 if seed is None else seed, save=save,
            device=device, quiet=quiet,
            source_note=note)
    except TrainError as err:
        _fail(str(err))
    click.echo(f"validation accuracy {meta['valid_accuracy']:.4f} (loss {meta['valid_loss']:.4f})")
    click.echo(f"test accuracy       {meta['test_accuracy']:.4f} (loss {meta['test_loss']:.4f})")
    click.echo(f"saved: {save} (state_dict of raynas.fix(model, genome)), {meta_path(save)}")
