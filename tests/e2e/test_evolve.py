"""End to end: the real ``raynas evolve`` CLI on a real local Ray runtime, real training."""

import os
import signal
import time

import pandas as pd
import pytest

from raynas.results.store import read_trials

pytestmark = pytest.mark.slow  # real CLI runs on real Ray

QUICK = ["--epochs", "1", "--limit", "300", "--num-cpus", "2", "-q"]


def test_default_job_reaches_ninety_percent(run_cli, tmp_path):
    out = tmp_path / "default"
    result = run_cli("evolve", "--out", out, "--num-cpus", "2")
    frame = pd.read_parquet(out / "trials")
    # the seed's space has 4 genomes: each is tried once, then known ones train again
    assert len(frame) == 12 and set(frame["status"]) == {"completed"}
    assert frame["genome"].head(4).is_unique and frame["genome"].nunique() == 4
    assert "every genome of the space was tried; 8 trial(s)" in result.stdout
    assert frame["accuracy"].max() > 0.9
    # part files are only added while a run writes: rows come in the order trials finished
    assert sorted(frame["order"]) == list(range(1, 13))
    assert frame["trial_id"].is_unique
    assert f"results: {out}" in result.stdout and "best: accuracy" in result.stdout
    # every genome is valid for the space and its arch columns agree with it
    assert (frame["arch.conv1"].isin(["0", "1"])).all()
    assert (frame["flops"] > frame["params"]).all()  # a conv net does more FLOPs than it has weights


def test_failing_genomes_are_recorded_and_the_search_goes_on(run_cli, tmp_path, fixtures_dir):
    out = tmp_path / "seed"
    run_cli("evolve", "--space", f"{fixtures_dir / 'seed_net.py'}:SeedNet", "--strategy", "random",
            "--trials", "4", "--out", out, *QUICK)
    frame = pd.read_parquet(out / "trials")
    assert len(frame) == 4
    failed = frame[frame["status"] == "failed"]
    completed = frame[frame["status"] == "completed"]
    assert len(failed) == 2 and len(completed) == 2  # random with dedup covers all 4 genomes
    assert (failed["arch.conv1"] == "1").all()
    assert failed["error"].str.contains("shapes cannot be multiplied").all()
    assert failed["accuracy"].isna().all() and completed["accuracy"].notna().all()


def test_max_params_rejects_before_training(run_cli, tmp_path):
    out = tmp_path / "budget"
    run_cli("evolve", "--trials", "4", "--strategy", "random", "--max-params", "1204100",
            "--out", out, *QUICK)
    frame = pd.read_parquet(out / "trials")
    rejected = frame[frame["status"] == "rejected"]
    assert len(rejected) == 2 and (rejected["arch.conv1"] == "1").all()
    assert (rejected["params"] > 1204100).all() and rejected["train_seconds"].isna().all()
    assert rejected["error"].str.contains("--max-params").all()
    assert (frame.loc[frame["status"] == "completed", "params"] <= 1204100).all()


def test_fractional_gpus_pack_four_trials_on_one_gpu(run_cli, tmp_path):
    out = tmp_path / "gpu"
    run_cli("evolve", "--trials", "4", "--strategy", "random", "--gpus-per-trial", "0.25",
            "--cpus-per-trial", "0.5", "--num-gpus", "1", "--out", out, "--epochs", "2",
            "--limit", "600", "--num-cpus", "2", "-q")
    frame = pd.read_parquet(out / "trials")
    assert len(frame) == 4 and (frame["status"] == "completed").all()
    assert (frame["gpu_ids"] == "0").all()  # all four trials were given GPU 0
    # all four ran at once: each started before any finished
    assert frame["started_at"].max() < frame["finished_at"].min()


def test_bad_input_exits_non_zero_with_a_clear_message(run_cli):
    result = run_cli("evolve", "--space", "mnsit", check=False)
    assert result.returncode != 0 and "unknown space 'mnsit'" in result.stderr
    result = run_cli("evolve", "--dataset", "cifar10", "--data-dir", "/nonexistent", check=False)
    assert result.returncode != 0 and "cifar10" in result.stderr
    result = run_cli("evolve", "--trials", "0", check=False)
    assert result.returncode != 0 and "trials" in result.stderr


def test_config_file_and_unknown_field(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trials: 3\npopulaton_size: 4\n")
    result = run_cli("evolve", "-c", bad, check=False)
    assert result.returncode != 0 and "populaton_size" in result.stderr
    good = tmp_path / "good.yaml"
    out = tmp_path / "from-yaml"
    good.write_text(f"trials: 2\nstrategy: random\nepochs: 1\nlimit: 200\nout: {out}\nnum_cpus: 2\n")
    run_cli("evolve", "-c", good, "-q")
    assert len(pd.read_parquet(out / "trials")) == 2


def test_sigkill_then_resume_loses_and_repeats_nothing(run_cli, start_cli, tmp_path):
    out = tmp_path / "killed"
    args = ["evolve", "--space", "nasbench201", "--strategy", "evolution", "--trials",
            "10", "--epochs", "1", "--limit", "64", "--max-batches-per-epoch", "2", "--batch-size",
            "32", "--num-cpus", "2", "--out", str(out), "-q"]
    process = start_cli(*args)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if (out / "trials").exists() and len(read_trials(out)) >= 3:
                break
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail("no trial finished in time")
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the driver and the local Ray it started
        process.wait()
    before = read_trials(out)
    assert 3 <= len(before) < 10
    run_cli("evolve", "--resume", out, "-q")
    after = pd.read_parquet(out / "trials")
    assert len(after) == 10 and after["trial_id"].is_unique and after["order"].is_unique
    kept = after.set_index("trial_id").loc[before["trial_id"], ["order", "status", "genome"]]
    assert (kept.reset_index()[["order", "status", "genome"]].values ==
            before[["order", "status", "genome"]].values).all()


def test_same_seed_same_genomes_across_runs(run_cli, tmp_path):
    genomes = []
    for name in ("a", "b"):
        out = tmp_path / name
        run_cli("evolve", "--space", "nasbench201", "--trials", "9", "--seed", "3",
                "--max-concurrent", "1", "--epochs", "1", "--limit", "64",
                "--max-batches-per-epoch", "2", "--batch-size", "32", "--num-cpus", "2",
                "--out", out, "-q")
        frame = pd.read_parquet(out / "trials")
        genomes.append(frame.sort_values("order")[["genome", "accuracy", "parent_trial_id"]])
    assert genomes[0]["genome"].tolist() == genomes[1]["genome"].tolist()
    assert genomes[0]["accuracy"].tolist() == genomes[1]["accuracy"].tolist()  # same training
    assert genomes[0]["parent_trial_id"].notna().any()  # evolution mutated some parents
