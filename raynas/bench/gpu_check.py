"""A GPU check of a real machine: four trials sharing one NVIDIA GPU, measured.

``python -m raynas.bench.gpu_check`` (or ``scripts/gpu_check.sh``) on a machine with an
NVIDIA GPU, in a few minutes and offline:

1. writes a CIFAR-10-shaped dataset (3x32x32, 10 classes, learnable: each class is a
   fixed colour pattern plus noise) as CIFAR-10 batch files in the on-disk format
   torchvision reads (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``);
2. runs ``raynas evolve --space nasbench201 --dataset cifar10 --gpus-per-trial 0.25`` with
   four trials on real CUDA while ``nvidia-smi`` samples the GPU's utilisation and each
   process's memory;
3. trains the first trial's architecture in a plain PyTorch loop on the same GPU (same
   batch size, optimizer and data) for the throughput baseline;

and prints one table: the GPU's busy fraction while the trials ran, the trials that ran
at once, each trial process's peak memory against its quarter of the GPU, whether a
process capped as a trial is (``limit_gpu_memory``) is refused a block over its share, and
training
throughput inside a trial against the plain loop. Exit status 0 when every check holds,
1 when one does not, 3 when there is no NVIDIA GPU (the message says what was missing).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

NO_GPU_EXIT = 3
SMI_QUERY_GPU = ["--query-gpu=utilization.gpu,memory.used,memory.total",
                 "--format=csv,noheader,nounits"]
SMI_QUERY_APPS = ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]


# ------------------------------------------------------------------ data


def write_cifar_like(data_dir: str | os.PathLike[str], n_train: int = 10_000, n_test: int = 2_000,
                     seed: int = 0) -> Path:
    """Write CIFAR-10 batch files of synthetic, learnable images into ``data_dir``.

    Same layout and pickle format as the real dataset (5 training batches, ``test_batch``,
    ``batches.meta``; ``data`` uint8 N x 3072 in CHW order, ``labels`` a list of ints).
    Returns the ``cifar-10-batches-py`` folder.
    """
    if n_train < 5 or n_test < 1:
        raise ValueError(f"n_train must be >= 5 and n_test >= 1, got n_train={n_train}, "
                         f"n_test={n_test}")
    rng = np.random.default_rng(seed)
    # a smooth random pattern per class: an 8x8 colour grid upsampled to 32x32
    templates = rng.uniform(40, 215, size=(10, 3, 8, 8)).repeat(4, axis=2).repeat(4, axis=3)
    folder = Path(data_dir) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def batch(n: int, name: str) -> None:
        labels = rng.integers(0, 10, size=n)
        noise = rng.normal(0, 45, size=(n, 3, 32, 32))
        images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels.tolist(),
                         "data": images.reshape(n, 3 * 32 * 32),
                         "filenames": [f"{name}_{i}.png" for i in range(n)]}, f)

    for i, size in enumerate(np.array_split(np.arange(n_train), 5), 1):
        batch(len(size), f"data_batch_{i}")
    batch(n_test, "test_batch")
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"],
                     "num_cases_per_batch": n_train // 5, "num_vis": 3072}, f)
    return folder


# ------------------------------------------------------------------ the GPU


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the check (no nvidia-smi, or CUDA not usable), else None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "nvidia-smi not found: no NVIDIA driver on this machine"
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is a dependency
        return f"torch cannot be imported: {err}"
    if not torch.cuda.is_available():
        return (f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is "
                f"False; built for CUDA {torch.version.cuda})")
    return None


def parse_gpu_sample(text: str) -> tuple[float, float, float]:
    """One line of ``nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total``
    (first GPU) as (utilisation 0..1, memory used MiB, memory total MiB)."""
    line = text.strip().splitlines()[0]
    util, used, total = (float(v) for v in line.split(","))
    return util / 100.0, used, total


def parse_apps(text: str) -> dict[int, float]:
    """``nvidia-smi --query-compute-apps=pid,used_memory`` as {pid: MiB}; [N/A] rows skipped."""
    apps: dict[int, float] = {}
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            try:
                apps[int(parts[0])] = float(parts[1])
            except ValueError:
                continue
    return apps


@dataclass
class GpuSamples:
    """What :class:`GpuSampler` saw: utilisation per sample and peak MiB per process."""

    utilisation: list[float] = field(default_factory=list)
    busy_processes: list[int] = field(default_factory=list)
    peak_mib: dict[int, float] = field(default_factory=dict)
    total_mib: float = 0.0


class GpuSampler:
    """Samples ``nvidia-smi`` every ``interval`` seconds in a thread until :meth:`stop`."""

    def __init__(self, interval: float = 0.5, ignore_pids: Sequence[int] = ()):
        self.interval = interval
        self.ignore = set(ignore_pids)
        self.samples = GpuSamples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "GpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                gpu = subprocess.run(["nvidia-smi", *SMI_QUERY_GPU], capture_output=True,
                                     text=True, timeout=10).stdout
                apps = subprocess.run(["nvidia-smi", *SMI_QUERY_APPS], capture_output=True,
                                      text=True, timeout=10).stdout
                util, _, total = parse_gpu_sample(gpu)
                procs = {p: m for p, m in parse_apps(apps).items() if p not in self.ignore}
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                self._stop.wait(self.interval)
                continue
            s = self.samples
            s.total_mib = total
            if procs:  # only while trials hold the GPU
                s.utilisation.append(util)
                s.busy_processes.append(len(procs))
            for pid, mib in procs.items():
                s.peak_mib[pid] = max(mib, s.peak_mib.get(pid, 0.0))
            self._stop.wait(self.interval)


# ------------------------------------------------------------------ plain loop


def plain_loop_throughput(genome: dict[str, Any], data_dir: Path, batch_size: int,
                          epochs: int, device: str = "cuda") -> float:
    """Samples per second of a hand-written PyTorch loop training ``genome`` of the
    nasbench201 space on the check's data: the baseline a trial's throughput is held to."""
    import torch
    import torch.nn.functional as F

    import raynas.spaces
    from raynas import fix
    from raynas.datasets import load

    bundle = load("cifar10", data_dir, input_shape=(3, 32, 32))
    x = bundle.normalize(bundle.train_x.to(device))
    y = bundle.train_y.to(device)
    torch.manual_seed(0)
    model = fix(raynas.spaces.get("nasbench201")(), genome).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seen, start = 0, None
    cuda = torch.device(device).type == "cuda"
    for epoch in range(epochs + 1):  # epoch 0 warms up (cuDNN autotuning, allocator)
        if epoch == 1:
            if cuda:
                torch.cuda.synchronize()
            start, seen = time.perf_counter(), 0
        order = torch.randperm(len(x), device=device)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            seen += len(idx)
    if cuda:
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


MEMORY_PROBE = """
import sys, torch
from raynas.train.loop import limit_gpu_memory
fraction = float(sys.argv[1])
limit_gpu_memory(fraction)
total = torch.cuda.get_device_properties(0).total_memory
def fits(share):
    try:
        block = torch.empty(int(total * share), dtype=torch.uint8, device="cuda")
        del block
        torch.cuda.empty_cache()
        return True
    except torch.OutOfMemoryError:
        return False
print(f"under={fits(fraction * 0.8)} over={fits(fraction * 1.2)}")
"""


def probe_memory_limit(fraction: float) -> tuple[bool, bool]:
    """In a fresh process capped as a trial is (``limit_gpu_memory(fraction)``): whether a block
    of 0.8 x its share fits, and whether one of 1.2 x its share does (it must not)."""
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(fraction)], capture_output=True,
                         text=True, timeout=120)
    found = dict(part.split("=") for part in out.stdout.split() if "=" in part)
    if set(found) != {"under", "over"}:
        raise RuntimeError(f"memory probe failed: {out.stdout[-500:]}{out.stderr[-2000:]}")
    return found["under"] == "True", found["over"] == "True"


# ------------------------------------------------------------------ the table


def check_rows(samples: GpuSamples, frame: Any, plain_sps: float | None,
               gpus_per_trial: float,
               probe: tuple[bool, bool] | None = None) -> list[tuple[str, str, str, bool]]:
    """The table's rows: (what, measured, expected, ok). ``probe``: :func:`probe_memory_limit`."""
    rows: list[tuple[str, str, str, bool]] = []
    done = frame[frame.status == "completed"] if len(frame) else frame
    rows.append(("trials completed", f"{len(done)} of {len(frame)}", "all",
                 len(frame) > 0 and len(done) == len(frame)))
    # gpu_ids: Ray's GPU ids of the trial as text ("0"), null when it had none
    on_gpu = [g for g in frame.get("gpu_ids", []) if isinstance(g, str) and g.strip()]
    rows.append(("trials that saw a GPU", f"{len(on_gpu)}", f"{len(frame)}",
                 len(on_gpu) == len(frame) and len(frame) > 0))
    util = samples.utilisation
    busy = float(np.mean(util)) if util else 0.0
    rows.append(("GPU busy while trials ran (mean utilisation)", f"{busy:.0%}",
                 "> 0% (higher is better)", busy > 0))
    most = max(samples.busy_processes, default=0)
    expected = int(round(1 / gpus_per_trial)) if gpus_per_trial else 1
    rows.append(("trial processes on the GPU at once (max)", str(most), f"up to {expected}",
                 1 <= most <= expected))
    limit = samples.total_mib * gpus_per_trial
    peak = max(samples.peak_mib.values(), default=0.0)
    rows.append((f"peak memory of one trial process (of {samples.total_mib:.0f} MiB)",
                 f"{peak:.0f} MiB", f"<= {limit:.0f} MiB ({gpus_per_trial:g} of the GPU)",
                 0 < peak <= limit))
    if probe is not None:
        under, over = probe
        rows.append(("capped process: 0.8 / 1.2 x its share allocated",
                     f"{'yes' if under else 'no'} / {'yes' if over else 'no'}",
                     "yes / no (out of memory)", under and not over))
    sps = float(done["samples_per_second"].median()) if len(done) else 0.0
    rows.append(("training throughput in a trial (median)", f"{sps:,.0f} samples/s", "", sps > 0))
    if plain_sps:
        ratio = sps / plain_sps
        rows.append(("plain PyTorch loop, same GPU, alone", f"{plain_sps:,.0f} samples/s", "",
                     True))
        rows.append(("trial / plain loop", f"{ratio:.2f}",
                     f">= {0.5 * gpus_per_trial:.2f} (trials share the GPU)",
                     ratio >= 0.5 * gpus_per_trial))
    return rows


def print_table(rows: Sequence[tuple[str, str, str, bool]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in ("check", "measured", "expected", "ok"):
        table.add_column(header)
    for what, measured, expected, ok in rows:
        table.add_row(what, measured, expected, "yes" if ok else "NO")
    Console().print(table)


# ------------------------------------------------------------------ the command


def evolve_command(data: Path, out: Path, trials: int, epochs: int, batch_size: int,
                   gpus_per_trial: float) -> list[str]:
    """The ``raynas evolve`` the check runs: nasbench201 on the check's CIFAR-10-shaped data,
    a local Ray with one GPU."""
    raynas = Path(sys.executable).parent / "raynas"
    return [str(raynas), "evolve", "--space", "nasbench201", "--dataset", "cifar10",
            "--data-dir", str(data), "--trials", str(trials), "--epochs", str(epochs),
            "--batch-size", str(batch_size), "--gpus-per-trial", str(gpus_per_trial),
            "--num-gpus", "1", "--strategy", "random", "--out", str(out), "-q"]


@click.command("gpu-check")
@click.option("--trials", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Trials to run on the GPU.")
@click.option("--gpus-per-trial", type=click.FloatRange(0.01, 1.0), default=0.25,
              show_default=True, help="GPU share of each trial.")
@click.option("--epochs", type=click.IntRange(1, 50), default=2, show_default=True)
@click.option("--images", type=click.IntRange(100, 50_000), default=10_000, show_default=True,
              help="Training images of the CIFAR-10-shaped data the check writes.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=256, show_default=True)
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the data and the run (default: a temporary one, removed).")
def main(trials: int, gpus_per_trial: float, epochs: int, images: int, batch_size: int,
         work_dir: Path | None) -> None:
    """Four trials sharing one NVIDIA GPU, measured against a plain PyTorch loop."""
    reason = no_gpu_reason()
    if reason:
        click.echo(f"gpu-check: no NVIDIA GPU to check ({reason}); run it on a machine with "
                   f"an NVIDIA GPU and its driver", err=True)
        sys.exit(NO_GPU_EXIT)
    import pandas as pd

    owned = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="raynas-gpu-check-")) if owned else work_dir
    try:
        data = work / "data"
        write_cifar_like(data, n_train=images, n_test=max(images // 5, 100))
        out = work / "run"
        command = evolve_command(data, out, trials, epochs, batch_size, gpus_per_trial)
        click.echo("gpu-check: " + " ".join(command))
        started = time.perf_counter()
        with GpuSampler(ignore_pids=[os.getpid()]) as sampler:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            click.echo(result.stdout[-3000:] + result.stderr[-6000:], err=True)
            click.echo(f"gpu-check: raynas evolve exited {result.returncode}", err=True)
            sys.exit(1)
        frame = pd.read_parquet(out / "trials")
        done = frame[frame.status == "completed"]
        plain = None
        if len(done):
            genome = json.loads(done.iloc[0]["genome"])
            plain = plain_loop_throughput(genome, data, batch_size, epochs)
        import torch

        rows = check_rows(sampler.samples, frame, plain, gpus_per_trial,
                          probe_memory_limit(gpus_per_trial))
        rows.append(("wall time of the trials", f"{wall:.0f} s", "", True))
        print_table(rows, f"raynas GPU check: {torch.cuda.get_device_name(0)}, {trials} trials "
                          f"at --gpus-per-trial {gpus_per_trial:g}")
        sys.exit(0 if all(ok for *_, ok in rows) else 1)
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
