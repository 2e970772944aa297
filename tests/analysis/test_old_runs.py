"""A run folder written by raynas 0.1.0 (run.json without a format version) still works
with report, export and train --run."""

import json

from raynas.analysis.export import export_run
from raynas.analysis.report import build_report
from raynas.analysis.retrain import TrainSettings, retrain_inputs


def as_010(run):
    """Rewrite ``run``'s run.json as raynas 0.1.0 wrote it."""
    info = json.loads((run / "run.json").read_text())
    info.pop("format_version")
    (run / "run.json").write_text(json.dumps(info))
    return run


def test_report_export_and_train_read_a_010_run(make_run, tmp_path):
    run = as_010(make_run("old", ["completed", "failed", "completed"]))
    report = build_report(run)
    assert report.planned == 5 and report.counts["completed"] == 2
    assert report.settings["dataset"] == "digits"
    written = export_run(run, tmp_path / "export", top_k=1)
    assert written[0]["trial_id"] == "trial_002"
    kwargs, genome, note = retrain_inputs(None, run, None, TrainSettings(epochs=1))
    assert note["trial_id"] == "trial_002" and kwargs["space"] == "mnist"
    assert kwargs["dataset"] == "digits" and kwargs["limit"] == 300
    assert genome == json.loads(written[0]["path"].read_text())
