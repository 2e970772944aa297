"""End to end: ``raynas oneshot`` on the real digits data, then ``report``, ``export`` and
``--resume`` of the finished run."""

import json

import pandas as pd
import pytest

from raynas.results.run_dir import RunDir

pytestmark = pytest.mark.slow

ARGS = ("--space", "nasbench201-small", "--dataset", "digits", "--supernet-epochs", 1,
        "--candidates", 20, "--retrain-top-k", 2, "--retrain-epochs", 1, "--limit", 300,
        "--num-cpus", 2, "-q")


def test_oneshot_run_report_export(run_cli, tmp_path):
    out = tmp_path / "run"
    result = run_cli("oneshot", *ARGS, "--out", out)
    assert "retrained: 2/2" in result.stdout and "best:" in result.stdout

    rows = pd.read_parquet(out / "trials")
    searched = rows[rows.stage == "oneshot"]
    retrained = rows[rows.stage == "retrain"].sort_values("order")  # parts: finishing order
    assert len(searched) == 20 and len(retrained) == 2 and len(rows) == 22
    assert set(searched.trial_id) == {f"oneshot_{n:05d}" for n in range(1, 21)}
    assert (retrained.status == "completed").all() and retrained.epochs.eq(1).all()
    assert retrained.genome.nunique() == 2
    # the two retrained genomes are the two best distinct oneshot genomes, linked to them
    done = searched[searched.status == "completed"].sort_values(
        ["accuracy", "params", "order"], ascending=[False, True, True])
    assert list(retrained.genome) == list(done.genome.drop_duplicates().head(2))
    assert set(retrained.parent_trial_id) <= set(searched.trial_id)
    assert sorted(retrained.order) == [21, 22]
    # the answer: the best retrained accuracy; ties (likely after 1 epoch on 270 validation
    # images) go to fewer parameters, then the earlier proposal, as `ranked` orders rows
    best = retrained.sort_values(["accuracy", "params", "order"],
                                 ascending=[False, True, True]).iloc[0]
    assert f"trial {best.trial_id}" in result.stdout

    info = RunDir(out).read_info()
    assert info.settings["candidates"] == 20 and info.settings["retrain_top_k"] == 2
    assert info.settings["space"] == "nasbench201-small" and info.space is not None
    assert any((out / "supernet").rglob("supernet.pt"))

    report = run_cli("report", out)
    assert (out / "report" / "oneshot.png").stat().st_size > 0
    assert "oneshot.png" in (out / "report" / "index.html").read_text()
    assert f"best: trial {best.trial_id}" in report.stdout

    run_cli("export", out, "--top-k", 2, "--out", tmp_path / "export")
    manifest = pd.read_csv(tmp_path / "export" / "manifest.csv", dtype={"trial_id": str})
    assert list(manifest.trial_id)[0] == best.trial_id
    assert set(manifest.trial_id) == set(retrained.trial_id)

    # resuming a finished run trains nothing again; raising --candidates continues the search
    again = run_cli("oneshot", "--resume", out, "--candidates", 24, "-q")
    rows = pd.read_parquet(out / "trials")
    assert (rows.stage == "oneshot").sum() == 24 and (rows.stage == "retrain").sum() >= 2
    assert rows.trial_id.is_unique
    assert "candidates: 24/24" in again.stdout
