"""``raynas evolve --scheduler asha`` end to end: real Ray, real training on digits, the
``tiny`` space; stopped rows, their epochs and curves, the report's curves plot, a resume."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from raynas.results.store import Status

pytestmark = pytest.mark.slow

COMMON = ["--space", "tiny", "--dataset", "digits", "--limit", "300", "--epochs", "4",
          "--scheduler", "asha", "--grace-epochs", "1", "--reduction-factor", "2",
          "--num-cpus", "2", "-q"]


def _check_rows(rows: pd.DataFrame, epochs: int) -> None:
    assert rows["trial_id"].is_unique and rows["order"].is_unique
    stopped = rows[rows["status"] == Status.STOPPED]
    done = rows[rows["status"] == Status.COMPLETED]
    assert len(stopped) >= 1 and len(done) >= 1
    assert (stopped["epochs"] < epochs).all() and (stopped["epochs"] >= 1).all()
    assert (done["epochs"] == epochs).all()
    for _, row in pd.concat([stopped, done]).iterrows():
        curve = json.loads(row["accuracy_curve"])
        assert len(curve) == row["epochs"]             # one accuracy per epoch trained
        assert curve[-1] == pytest.approx(row["accuracy"])  # the row's accuracy is the last
    # lineage: evolution's children of any row (stopped ones included) name their parent
    assert rows["parent_trial_id"].dropna().isin(rows["trial_id"]).all()


def test_asha_stops_trials_and_the_report_plots_their_curves(run_cli, tmp_path):
    out = tmp_path / "asha"
    result = run_cli("evolve", *COMMON, "--trials", "12", "--out", out)
    rows = pd.read_parquet(out / "trials")
    assert len(rows) == 12
    _check_rows(rows, epochs=4)
    assert f"epochs trained: {int(rows['epochs'].sum())}" in result.stdout
    assert int(rows["epochs"].sum()) < 12 * 4
    best = rows[rows["status"] == Status.COMPLETED]["accuracy"].max()
    assert f"best: accuracy {best:.4f}," in result.stdout  # the best is a full-fidelity trial

    report = run_cli("report", out)
    assert "stopped" in report.stdout
    curves = out / "report" / "curves.png"
    assert curves.is_file() and curves.stat().st_size > 10_000
    assert "curves.png" in (out / "report" / "index.html").read_text()


def test_resume_with_asha(run_cli, tmp_path):
    out = tmp_path / "resumed"
    run_cli("evolve", *COMMON, "--trials", "8", "--out", out)
    before = pd.read_parquet(out / "trials")
    run_cli("evolve", "--resume", out, "--trials", "14", "-q")
    after = pd.read_parquet(out / "trials")
    assert len(after) == 14
    _check_rows(after, epochs=4)
    kept = after.set_index("trial_id").loc[before["trial_id"], ["status", "epochs", "genome"]]
    assert (kept.values == before[["status", "epochs", "genome"]].values).all()
    refused = run_cli("evolve", "--resume", out, "--trials", "20", "--scheduler", "fifo",
                      check=False)
    assert refused.returncode == 2 and "scheduler ('asha' -> 'fifo')" in refused.stderr
