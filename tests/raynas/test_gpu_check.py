"""The GPU check's pieces that run without a GPU: its data, its parsing of nvidia-smi, its
table, its argument handling and its message on a machine without an NVIDIA GPU.
(The check itself needs an NVIDIA GPU: ``scripts/gpu_check.sh``.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from raynas.bench.gpu_check import (GpuSamples, check_rows, no_gpu_reason, parse_apps,
                                    parse_gpu_sample, write_cifar_like)
from raynas.datasets import load

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_check.sh"


def test_written_data_is_read_as_cifar10_and_is_learnable(tmp_path):
    folder = write_cifar_like(tmp_path, n_train=1000, n_test=200, seed=1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
        "data_batch_5", "test_batch"]
    bundle = load("cifar10", tmp_path, input_shape=(3, 32, 32))
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert sum(bundle.sizes().values()) == 1200 and bundle.train_x.dtype == torch.uint8
    assert bundle.class_names[0] == "airplane"
    assert len(torch.unique(bundle.train_y)) == 10
    # learnable: a nearest-class-mean classifier on the training split beats chance by far
    x = bundle.train_x.float().flatten(1)
    means = torch.stack([x[bundle.train_y == c].mean(0) for c in range(10)])
    test_x = bundle.test_x.float().flatten(1)
    accuracy = (torch.cdist(test_x, means).argmin(1) == bundle.test_y).float().mean()
    assert accuracy > 0.8, accuracy


def test_same_seed_same_data(tmp_path):
    a = write_cifar_like(tmp_path / "a", n_train=50, n_test=10, seed=3)
    b = write_cifar_like(tmp_path / "b", n_train=50, n_test=10, seed=3)
    assert (a / "data_batch_2").read_bytes() == (b / "data_batch_2").read_bytes()


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_train must be >= 5.*got n_train=2"):
        write_cifar_like(tmp_path, n_train=2)


def test_parses_nvidia_smi_output():
    assert parse_gpu_sample("87, 30512, 143771\n") == (0.87, 30512.0, 143771.0)
    assert parse_apps("1234, 20000\n5678, [N/A]\n91011, 1500\n") == {1234: 20000.0, 91011: 1500.0}
    assert parse_apps("") == {}


def _frame(sps=(900.0, 1100.0), gpu_ids=("0", "0")):
    return pd.DataFrame({"status": ["completed"] * len(sps), "samples_per_second": list(sps),
                         "gpu_ids": list(gpu_ids)})


def test_table_rows_hold_when_the_measures_are_good():
    samples = GpuSamples(utilisation=[0.8, 0.9], busy_processes=[2, 4, 3],
                         peak_mib={1: 20_000.0, 2: 30_000.0}, total_mib=140_000.0)
    rows = check_rows(samples, _frame(), plain_sps=2000.0, gpus_per_trial=0.25,
                      probe=(True, False))
    assert all(ok for *_, ok in rows), rows
    measured = {what: value for what, value, _, _ in rows}
    assert measured["GPU busy while trials ran (mean utilisation)"] == "85%"
    assert measured["trial / plain loop"] == "0.50"


def test_table_rows_fail_when_a_trial_overruns_its_share_or_missed_the_gpu():
    samples = GpuSamples(utilisation=[0.5], busy_processes=[5], peak_mib={1: 40_000.0},
                         total_mib=140_000.0)
    rows = check_rows(samples, _frame(gpu_ids=("0", None)), plain_sps=2000.0,
                      gpus_per_trial=0.25, probe=(True, True))
    failed = {what for what, _, _, ok in rows if not ok}
    assert failed == {"trials that saw a GPU", "trial processes on the GPU at once (max)",
                      "peak memory of one trial process (of 140000 MiB)",
                      "capped process: 0.8 / 1.2 x its share allocated"}


def _run_script(*args, path=None):
    env = {**os.environ, "RAYNAS_PYTHON": sys.executable}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.skipif(no_gpu_reason() is None, reason="this machine has an NVIDIA GPU")
def test_without_a_gpu_the_script_says_so_and_exits_3():
    result = _run_script()
    assert result.returncode == 3, result.stderr
    assert "gpu-check: no NVIDIA GPU to check" in result.stderr
    assert no_gpu_reason() in result.stderr


def test_script_refuses_bad_arguments_before_looking_for_a_gpu():
    result = _run_script("--gpus-per-trial", "2")
    assert result.returncode == 2
    assert "--gpus-per-trial" in result.stderr and "0.01<=x<=1.0" in result.stderr
    result = _run_script("--trials", "0")
    assert result.returncode == 2 and "--trials" in result.stderr


def test_script_help_lists_its_options():
    result = _run_script("--help")
    assert result.returncode == 0
    for option in ("--trials", "--gpus-per-trial", "--epochs", "--images", "--work-dir"):
        assert option in result.stdout


def test_no_gpu_reason_names_a_missing_nvidia_smi(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("nvidia-smi is installed here")
    assert "nvidia-smi not found" in no_gpu_reason()


def test_the_evolve_command_uses_only_options_raynas_evolve_has(tmp_path):
    from raynas.bench.gpu_check import evolve_command

    command = evolve_command(tmp_path / "data", tmp_path / "run", 4, 2, 256, 0.25)
    assert command[1:2] == ["evolve"] and "--gpus-per-trial" in command
    help_text = subprocess.run([command[0], "evolve", "--help"], capture_output=True, text=True,
                               timeout=120).stdout
    for flag in (a for a in command[2:] if a.startswith("--")):
        assert flag in help_text, flag
