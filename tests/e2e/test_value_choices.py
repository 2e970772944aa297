"""End to end: a user's space with value choices and a Repeat through the real CLI: evolve,
report, export and train, read back in pandas."""

import json

import pandas as pd
import pytest

from raynas import SearchSpace

QUICK = ["--epochs", "1", "--limit", "300", "--num-cpus", "2", "-q"]


@pytest.mark.slow
def test_evolve_report_export_train_on_value_choices(run_cli, tmp_path, fixtures_dir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("value_net", fixtures_dir / "value_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    space = SearchSpace.from_model(module.ValueNet)

    out = tmp_path / "values"
    space_arg = f"{fixtures_dir / 'value_net.py'}:ValueNet"
    run_cli("evolve", "--space", space_arg, "--trials", "6", "--population-size", "3",
            "--max-params", "12000", "--out", out, *QUICK)
    frame = pd.read_parquet(out / "trials")
    assert len(frame) == 6 and frame["genome"].is_unique
    assert set(frame["status"]) <= {"completed", "rejected"} and "completed" in set(frame["status"])
    for _, row in frame.iterrows():
        genome = json.loads(row["genome"])
        assert space.validate(genome) == genome  # canonical genomes
        assert row["arch.width"] == json.dumps(genome["width"])
        assert row["arch.blocks"] == str(genome["blocks"]) and row["arch.act"] == genome["act"]
    done = frame[frame["status"] == "completed"]
    assert (done["params"] <= 12000).all() and done["accuracy"].notna().all()
    assert (frame.loc[frame["status"] == "rejected", "params"] > 12000).all()
    assert frame["arch.width"].isin(["8", "16", "24"]).all()
    recorded = json.loads((out / "run.json").read_text())["space"]
    assert SearchSpace.from_dict(recorded) == space

    report = run_cli("report", out)
    assert "best: trial" in report.stdout and (out / "report" / "choices.png").stat().st_size > 0

    run_cli("export", out, "--top-k", "1", "--out", tmp_path / "best")
    arch = next((tmp_path / "best").glob("rank01-*.json"))
    trained = run_cli("train", "--space", space_arg, "--arch", arch, "--dataset", "digits",
                      "--epochs", "1", "--limit", "300", "--save", tmp_path / "model.pt", "-q")
    meta = json.loads((tmp_path / "model.meta.json").read_text())
    assert meta["genome"] == json.loads(arch.read_text()) and "saved:" in trained.stdout
