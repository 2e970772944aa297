"""End to end: a two-objective search (accuracy against measured latency) on the digits
data, its report, ``export --pareto``, a latency budget and the resume rule."""

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

QUICK = ["--trials", "6", "--epochs", "1", "--limit", "300", "--num-cpus", "2", "-q"]


def test_accuracy_against_latency(run_cli, tmp_path):
    out = tmp_path / "mo"
    result = run_cli("evolve", "--objective", "accuracy:max", "--objective", "latency_ms:min",
                     "--out", out, *QUICK)
    assert "Pareto front (" in result.stdout and "latency_ms" in result.stdout

    frame = pd.read_parquet(out / "trials")
    assert len(frame) == 6 and (frame.status == "completed").all()
    for column in ("latency_ms", "latency_batch_ms"):
        values = frame[column].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values > 0).all(), column
    # a batch takes longer than one sample
    assert (frame.latency_batch_ms > frame.latency_ms).mean() > 0.5

    info = json.loads((out / "run.json").read_text())
    assert info["objectives"] == {"accuracy": "max", "latency_ms": "min"}
    assert info["settings"]["objective"] == ["accuracy:max", "latency_ms:min"]

    report = run_cli("report", out)
    assert "Pareto front (" in report.stdout and "normalised hypervolume" in report.stdout
    for name in ("pareto.png", "hv.png", "best.png", "choices.png", "index.html"):
        assert (out / "report" / name).is_file(), name
    assert "Hypervolume over trials" in (out / "report" / "index.html").read_text()

    export = run_cli("export", out, "--pareto", "--out", tmp_path / "front")
    manifest = pd.read_csv(tmp_path / "front" / "manifest.csv", dtype={"trial_id": str})
    assert "latency_ms" in manifest.columns and len(manifest) >= 1
    done = frame[frame.status == "completed"]
    for trial_id in manifest.trial_id:  # nobody dominates an exported trial
        row = done[done.trial_id == trial_id].iloc[0]
        better = done[(done.accuracy >= row.accuracy) & (done.latency_ms <= row.latency_ms)
                      & ((done.accuracy > row.accuracy) | (done.latency_ms < row.latency_ms))]
        assert better.empty, (row.trial_id, better.trial_id.tolist())
    assert list(manifest.accuracy) == sorted(manifest.accuracy, reverse=True)
    assert "latency_ms" in export.stdout

    refused = run_cli("evolve", "--resume", out, "--objective", "accuracy:max", "--trials", "8",
                      check=False)
    assert refused.returncode == 2
    assert "objective (accuracy:max,latency_ms:min -> accuracy:max)" in refused.stderr


def test_max_latency_rejects_before_training(run_cli, tmp_path):
    out = tmp_path / "fast"
    run_cli("evolve", "--max-latency-ms", "0.000001", "--out", out, "--trials", "2",
            "--epochs", "1", "--limit", "300", "--num-cpus", "2", "-q")
    frame = pd.read_parquet(out / "trials")
    assert (frame.status == "rejected").all()
    assert frame.error.str.contains("--max-latency-ms").all()
    assert (frame.epochs == 0).all() and frame.latency_ms.notna().all()
