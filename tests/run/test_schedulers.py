"""``--scheduler``: settings validation (one-line errors, exit 2), the Tune scheduler built,
a stopped trial's status, the resume rule, and how stopped rows rank and replay."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from raynas.cli.main import main
from raynas.results.run_dir import RunDir, RunInfo
from raynas.results.objectives import history
from raynas.results.store import Status, ranked
from raynas.run.errors import RunError
from raynas.run.recorder import trial_status
from raynas.run.resume import resume_settings
from raynas.run.schedulers import hyperband_brackets, make_scheduler
from raynas.run.settings import EvolveSettings, settings_from


def _evolve_error(*args: str) -> str:
    result = CliRunner().invoke(main, ["evolve", *args], prog_name="raynas")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raynas evolve: error: ")
    return lines[0]


def test_unknown_scheduler_lists_the_known_ones() -> None:
    line = _evolve_error("--scheduler", "sha")
    assert "unknown scheduler 'sha'; known: fifo, asha, hyperband, median" in line


def test_grace_epochs_above_epochs() -> None:
    line = _evolve_error("--scheduler", "asha", "--epochs", "4", "--grace-epochs", "5")
    assert "grace_epochs must be <= epochs, got grace_epochs=5, epochs=4" in line


def test_reduction_factor_below_two() -> None:
    line = _evolve_error("--scheduler", "asha", "--reduction-factor", "1.5")
    assert "reduction_factor must be >= 2" in line and "got 1.5" in line


def test_options_that_do_not_apply_to_the_scheduler() -> None:
    assert "not fifo" in _evolve_error("--grace-epochs", "1")
    assert "not median" in _evolve_error("--scheduler", "median", "--reduction-factor", "3")


def test_the_same_keys_in_yaml(tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("scheduler: hyperband\ngrace-epochs: 2\nreduction_factor: 2\nepochs: 8\n")
    from raynas.run.settings import load_yaml

    settings = settings_from(load_yaml(path), {})
    assert (settings.scheduler, settings.grace, settings.halving_rate) == ("hyperband", 2, 2.0)
    path.write_text("scheduler: bohb\n")
    assert "unknown scheduler 'bohb'" in _evolve_error("-c", str(path))


def test_defaults() -> None:
    s = EvolveSettings(scheduler="asha", epochs=8)
    assert (s.grace, s.halving_rate) == (1, 3.0)
    assert EvolveSettings().scheduler == "fifo"


def test_tune_schedulers_are_rays_own() -> None:
    from ray.tune.schedulers import AsyncHyperBandScheduler, MedianStoppingRule

    assert make_scheduler(EvolveSettings()) is None
    asha = make_scheduler(EvolveSettings(scheduler="asha", epochs=8, reduction_factor=3))
    assert isinstance(asha, AsyncHyperBandScheduler)
    assert [m for m, _ in asha._brackets[0]._rungs] == [3, 1]  # rungs at 1 and 3 epochs
    hyperband = make_scheduler(EvolveSettings(scheduler="hyperband", epochs=9, reduction_factor=3))
    assert len(hyperband._brackets) == 3 == hyperband_brackets(9, 1, 3)
    assert isinstance(make_scheduler(EvolveSettings(scheduler="median")), MedianStoppingRule)


def test_trial_status_from_the_last_report() -> None:
    assert trial_status({"final": True, "status": "completed"}) == Status.COMPLETED
    assert trial_status({"final": True, "status": "failed"}) == Status.FAILED
    assert trial_status({"final": False, "status": "running", "epochs": 2}) == Status.STOPPED
    assert trial_status({}) == Status.FAILED
    assert trial_status({"final": False, "status": "running"}) == Status.FAILED
    assert trial_status({"final": False, "status": "running", "epochs": 2}, "lost") == Status.FAILED


def _write_run(folder, **settings) -> None:
    RunDir(folder).write_info(RunInfo(settings=EvolveSettings(**settings).model_dump()))


def test_a_scheduler_change_on_resume_is_refused(tmp_path) -> None:
    _write_run(tmp_path, scheduler="asha", epochs=4)
    with pytest.raises(RunError, match=r"changed: scheduler \('asha' -> 'fifo'\)"):
        resume_settings(tmp_path, {"scheduler": "fifo"})
    assert resume_settings(tmp_path, {"trials": 30}).scheduler == "asha"
    line = _evolve_error("--resume", str(tmp_path), "--scheduler", "median")
    assert "scheduler ('asha' -> 'median')" in line


def test_a_run_of_an_older_raynas_resumes_as_fifo(tmp_path) -> None:
    settings = EvolveSettings().model_dump()
    for name in ("scheduler", "grace_epochs", "reduction_factor"):
        del settings[name]
    RunDir(tmp_path).write_info(RunInfo(settings=settings))
    assert resume_settings(tmp_path, {"scheduler": "fifo"}).scheduler == "fifo"
    with pytest.raises(RunError, match=r"scheduler \('fifo' -> 'asha'\)"):
        resume_settings(tmp_path, {"scheduler": "asha"})


def _rows() -> pd.DataFrame:
    genome = lambda i: json.dumps({"op": str(i)})  # noqa: E731
    return pd.DataFrame({
        "trial_id": ["a", "b", "c", "d", "e"], "order": [1, 2, 3, 4, 5],
        "status": ["stopped", "completed", "stopped", "completed", "failed"],
        "genome": [genome(i) for i in range(5)],
        "accuracy": [0.99, 0.80, 0.95, 0.85, None], "params": [10, 10, 10, 10, None],
        "epochs": [1, 8, 3, 8, None]})


def test_ranking_puts_full_fidelity_first_then_the_rung_reached() -> None:
    assert list(ranked(_rows())["trial_id"]) == ["d", "b", "c", "a"]


def test_history_tells_the_fidelity() -> None:
    told = [(value, fidelity) for _, value, fidelity in history(_rows())]
    assert told == [(0.99, 1), (0.80, 8), (0.95, 3), (0.85, 8), (None, None)]


def test_a_trial_is_stopped_at_its_final_report_and_not_before():
    from raynas.run.trial import is_final_report

    assert is_final_report("t1", {"final": True, "status": "completed", "epochs": 2})
    assert is_final_report("t1", {"final": True, "status": "failed", "epochs": None})
    assert not is_final_report("t1", {"final": False, "status": "running", "epochs": 1})
    assert not is_final_report("t1", {"training_iteration": 1})  # no report of raynas' own
