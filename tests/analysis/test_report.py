"""``raynas report``: plots, HTML page and summary on a real run, a run in progress and a run
whose trials all failed; the table helpers on small frames."""

import json
import re

import pandas as pd
import pytest

from raynas.analysis.report import decision_frequencies
from raynas.results.store import pareto_front, ranked, read_trials

PLOTS = ("best.png", "pareto.png", "hv.png", "choices.png", "curves.png")


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_report_of_a_real_run(cli, real_run, check_png):
    result = cli("report", real_run)
    assert result.returncode == 0, result.stderr
    frame = read_trials(real_run)
    best = ranked(frame).iloc[0]
    out = result.stdout
    assert re.search(r"trials: 4 of 4 \(completed \d, failed \d, rejected \d\)", out), out
    assert f"best: trial {best['trial_id']}, accuracy {best['accuracy']:.4f}" in out
    assert f"genome: {best['genome']}" in out
    report = real_run / "report"
    for name in PLOTS:
        check_png(report / name)
    page = (report / "index.html").read_text()
    for name in PLOTS:
        assert f"src='{name}'" in page
    for trial_id in ranked(frame).head(10)["trial_id"]:
        assert trial_id in page
    assert "completed" in page and "rejected" in page
    assert "<td>epochs</td>" in page and "<td>strategy</td>" in page  # the run's settings


def test_report_of_a_run_in_progress(cli, make_run, check_png):
    run = make_run("live", ["completed", "failed", "completed", "completed", "rejected"],
                   journal_only=True)
    assert not list((run / "trials").glob("*.parquet"))
    from raynas.results.run_dir import RunDir

    lock = RunDir(run).acquire_writer_lock()  # what a live `raynas evolve` holds
    try:
        result = cli("report", run)
    finally:
        lock.release()
    assert result.returncode == 0, result.stderr
    assert "run in progress" in result.stdout
    assert "trials: 5 of 7 (completed 3, failed 1, rejected 1)" in result.stdout
    assert "best: trial trial_003, accuracy 0.6500" in result.stdout
    for name in PLOTS:
        check_png(run / "report" / name)
    page = (run / "report" / "index.html").read_text()
    assert "run in progress" in page and "trial_003" in page


def test_report_of_a_run_whose_trials_all_failed(cli, make_run, check_png):
    run = make_run("failed", ["failed"] * 4)
    result = cli("report", run)
    assert result.returncode == 0, result.stderr
    assert "no trial completed: 4 failed, 0 rejected" in result.stdout
    assert "best:" not in result.stdout
    for name in PLOTS:
        check_png(run / "report" / name)
    page = (run / "report" / "index.html").read_text()
    assert "No trial completed." in page and "no trial completed" in page


def test_report_of_a_folder_without_results(cli, tmp_path):
    result = cli("report", tmp_path / "nowhere")
    assert result.returncode != 0
    assert "holds no raynas results" in result.stderr and "raynas evolve --out" in result.stderr


def test_report_out_option(cli, make_run, tmp_path):
    run = make_run("small", ["completed", "completed"])
    result = cli("report", run, "--out", tmp_path / "elsewhere")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == \
        ["best.png", "choices.png", "curves.png", "hv.png", "index.html", "pareto.png"]


def _frame(rows):
    base = {"status": "completed", "genome": "{}", "order": 0}
    return pd.DataFrame([{**base, "trial_id": f"t{i}", "order": i, **row}
                         for i, row in enumerate(rows)])


def test_pareto_front_keeps_only_undominated_trials():
    frame = _frame([
        {"params": 100, "accuracy": 0.70},
        {"params": 200, "accuracy": 0.90},
        {"params": 150, "accuracy": 0.60},   # dominated by t0
        {"params": 300, "accuracy": 0.90},   # dominated by t1 (same accuracy, more params)
        {"params": 50, "accuracy": 0.40},
        {"params": 400, "accuracy": 0.95},
        {"params": 10, "accuracy": None, "status": "failed"},
    ])
    front = pareto_front(frame)
    assert front["trial_id"].tolist() == ["t4", "t0", "t1", "t5"]
    assert front["params"].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing


def test_ranked_breaks_ties_by_fewer_params():
    frame = _frame([{"params": 300, "accuracy": 0.9}, {"params": 100, "accuracy": 0.9},
                    {"params": 50, "accuracy": 0.5}])
    assert ranked(frame)["trial_id"].tolist() == ["t1", "t0", "t2"]


def test_decision_frequencies_compare_top_trials_with_all(make_run):
    run = make_run("freq", ["completed"] * 10 + ["failed"] * 2)
    frame = read_trials(run)
    info = json.loads((run / "run.json").read_text())
    tables = decision_frequencies(frame, info)
    assert list(tables) == ["conv1", "skipcon"]
    conv1 = tables["conv1"]
    assert conv1.index.tolist() == ["0", "1"]                 # the space's order
    assert tables["skipcon"].index.tolist() == ["[]", '["0"]']
    for table in tables.values():
        assert table["all"].sum() == pytest.approx(1.0)
        assert table["top"].sum() == pytest.approx(1.0)
    # top 10% of 10 completed = 1 trial: the best, trial_009 (genome index 9 % 4 = 1)
    best = json.loads(ranked(frame).iloc[0]["genome"])
    assert conv1.loc[best["conv1"], "top"] == 1.0
