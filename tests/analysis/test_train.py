"""``raynas train``: trains a fixed architecture, saves weights that load into
``fix(model, genome)`` and reproduce the reported accuracy; clear errors for bad inputs."""

import json
import os

import pytest
import torch

import raynas.spaces
from raynas import datasets, fix, load_architecture
from raynas.train.loop import evaluate


def _reload(save, genome):
    model = fix(raynas.spaces.get("mnist")(), genome)
    model.load_state_dict(torch.load(save, weights_only=True))  # strict: every key matches
    return model


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_train_saves_weights_that_reproduce_the_reported_accuracy(cli, real_run, tmp_path):
    exported = tmp_path / "arch"
    assert cli("export", real_run, "--top-k", "1", "--out", exported).returncode == 0
    arch = next(exported.glob("rank01-*.json"))
    save = tmp_path / "weights" / "model.pt"
    result = cli("train", "--space", "mnist", "--arch", arch, "--dataset", "digits",
                 "--limit", "300", "--epochs", "2", "--batch-size", "64", "--seed", "3",
                 "--device", "cpu", "--save", save)
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "weights" / "model.meta.json").read_text())
    genome = load_architecture(arch)
    assert meta["genome"] == genome and meta["space"] == "mnist" and meta["epochs"] == 2
    assert f"validation accuracy {meta['valid_accuracy']:.4f}" in result.stdout
    assert f"test accuracy       {meta['test_accuracy']:.4f}" in result.stdout
    assert "epoch 2/2" in result.stderr  # progress (a plain line per epoch when not a terminal)

    model = _reload(save, genome)
    assert sum(p.numel() for p in model.parameters()) == meta["params"]
    bundle = datasets.load("digits", input_shape=(1, 28, 28), limit=300)
    valid = evaluate(model, bundle.valid_x, bundle.valid_y, mean=bundle.mean, std=bundle.std)
    test = evaluate(model, bundle.test_x, bundle.test_y, mean=bundle.mean, std=bundle.std)
    assert valid[0] == pytest.approx(meta["valid_accuracy"], abs=1e-12)
    assert test[0] == pytest.approx(meta["test_accuracy"], abs=1e-12)
    assert meta["valid_accuracy"] > 0.3  # it learned something (10 classes: chance is 0.1)


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_train_from_a_run_takes_its_best_trial_and_settings(cli, real_run, tmp_path):
    from raynas.results.store import ranked_genomes, read_trials

    best = ranked_genomes(read_trials(real_run)).iloc[0]  # the best genome's best trial
    save = tmp_path / "best.pt"
    result = cli("train", "--run", real_run, "--epochs", "1", "--save", save, "-q")
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "best.meta.json").read_text())
    assert meta["source"]["trial_id"] == best["trial_id"]
    assert meta["genome"] == json.loads(best["genome"])
    assert meta["limit"] == 300 and meta["dataset"] == "digits"  # the run's settings
    _reload(save, meta["genome"])


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_retraining_a_trial_with_its_settings_reproduces_its_search_result(cli, real_run,
                                                                         tmp_path):
    from raynas.results.store import read_trials

    rows = read_trials(real_run)
    row = rows[rows["status"] == "completed"].iloc[-1]
    save = tmp_path / "again.pt"
    result = cli("train", "--run", real_run, "--trial-id", row["trial_id"], "--epochs", "1",
                 "--device", "cpu", "--save", save, "-q")
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "again.meta.json").read_text())
    # the trial's own seed, data and settings: the same weights up to float summation order
    assert meta["valid_accuracy"] == pytest.approx(row["accuracy"], abs=1.5 / 270)
    assert meta["valid_loss"] == pytest.approx(row["loss"], rel=1e-3)


@pytest.fixture
def arch_files(tmp_path):
    files = {
        "bad_choice": {"conv1": "7", "skipcon": []},
        "missing_key": {"conv1": "0"},
        "unknown_key": {"conv1": "0", "skipcon": [], "conv9": "1"},
        "good": {"conv1": "0", "skipcon": ["0"]},
    }
    for name, genome in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(genome))
    (tmp_path / "broken.json").write_text("{\"conv1\": ")
    (tmp_path / "list.json").write_text("[1, 2]")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["--arch", "bad_choice.json"], "bad_choice.json does not fit space 'mnist'"),
    (["--arch", "bad_choice.json"], "valid: one of ['0', '1']"),
    (["--arch", "missing_key.json"], "skipcon"),
    (["--arch", "unknown_key.json"], "conv9"),
    (["--arch", "broken.json"], "not valid JSON"),
    (["--arch", "list.json"], "an architecture is a JSON object"),
    (["--arch", "absent.json"], "--arch absent.json: no such file"),
    (["--arch", "good.json", "--space", "nospace"], "unknown space 'nospace'"),
    (["--arch", "good.json", "--dataset", "nodata"], "unknown dataset 'nodata'"),
    (["--arch", "good.json", "--dataset", "mnist", "--data-dir", "empty"],
     "dataset 'mnist' not found"),
    ([], "give the architecture"),
    (["--trial-id", "x"], "--trial-id needs --run"),
    (["--run", "nowhere"], "--run: nowhere is not a raynas run folder"),
])
def test_bad_inputs_fail_with_a_clear_message(arch_files, args, message):
    from click.testing import CliRunner

    from raynas.cli.train import train_command

    # in-process (the command's own code, without a Python start per case)
    cwd = os.getcwd()
    os.chdir(arch_files)
    try:
        result = CliRunner().invoke(train_command, [*args, "--epochs", "1", "--save", "m.pt"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert not (arch_files / "m.pt").exists()


@pytest.mark.slow  # starts the installed script
def test_a_bad_arch_fails_through_the_real_cli(real_cli, arch_files):
    result = real_cli("train", "--arch", arch_files / "bad_choice.json", "--save",
                 arch_files / "m.pt")
    assert result.returncode == 2
    assert "raynas train: error:" in result.stderr and "conv1" in result.stderr
