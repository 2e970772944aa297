"""What ``raynas evolve`` checks before Ray starts: clear errors, nothing trained."""


import pytest

from raynas.results.store import write_run_info
from raynas.run.errors import RunError
from raynas.run.plan import RunPlan
from raynas.run.resume import resume_settings
from raynas.run.settings import EvolveSettings, fixed_on_resume

NO_SHAPE = '''
import torch.nn as nn
import torch.nn.functional as F
from raynas import LayerChoice


class Net(nn.Module):  # written for 28x28 input, but says nothing about it
    def __init__(self):
        super().__init__()
        self.conv = LayerChoice([nn.Conv2d(1, 8, 3), nn.Conv2d(1, 8, 3, padding=1)])
        self.fc = nn.Linear(8 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


class Boom(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("boom in init")


class NeedsWidth(nn.Module):
    def __init__(self, width):
        super().__init__()
'''


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "user_spaces.py"
    path.write_text(NO_SHAPE)
    return path


def test_data_that_fits_no_genome_is_an_error_before_any_trial(space_file):
    with pytest.raises(RunError, match=r"digits: the 1x8x8 input .* fits none of 2 genomes.*input_shape"):
        RunPlan.build(EvolveSettings(space=f"{space_file}:Net", out=str(space_file.parent / "r")))


@pytest.mark.parametrize("attr,pattern", [
    ("Boom", "building the model failed: RuntimeError: boom in init"),
    ("NeedsWidth", "building the model failed: TypeError"),
    ("Missing", r"user_spaces.py has no 'Missing'"),
])
def test_space_classes_that_cannot_build_are_clear_errors(space_file, attr, pattern):
    with pytest.raises(RunError, match=pattern):
        RunPlan.build(EvolveSettings(space=f"{space_file}:{attr}", out=str(space_file.parent / "r")))


def test_a_moved_space_file_resumes_from_the_runs_copy(tmp_path, space_file):
    run = tmp_path / "run"
    (run / "space").mkdir(parents=True)
    (run / "space" / space_file.name).write_text(space_file.read_text())
    write_run_info(run, {"settings": {"space": f"{space_file}:Net", "trials": 3}})
    space_file.unlink()
    settings = resume_settings(run, {"trials": 5})
    assert settings.space == f"{(run / 'space' / 'user_spaces.py').resolve()}:Net"
    assert settings.trials == 5 and settings.out == str(run)


def test_bad_settings_name_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="seed"):
        EvolveSettings(seed=-1)
    with pytest.raises(ValidationError, match="gpus_per_trial"):
        EvolveSettings(gpus_per_trial=0.3)
    with pytest.raises(RunError, match="--population-size does not apply"):
        plan = RunPlan.build(EvolveSettings(strategy="random", population_size=4, limit=50,
                                            out="unused"))
        plan.make_strategy()


def test_every_setting_is_a_command_line_option():
    from raynas.cli.evolve import evolve_command

    options = {param.name for param in evolve_command.params}
    assert set(EvolveSettings.model_fields) <= options
    assert {"config_file", "resume_dir", "quiet"} <= options


def test_resume_keeps_the_settings_that_shape_results(tmp_path):
    run = tmp_path / "run"
    write_run_info(run, {"settings": {"space": "mnist", "trials": 3, "epochs": 2, "seed": 0}})
    with pytest.raises(RunError, match=r"changed: epochs \(2 -> 5\), seed \(0 -> 9\)"):
        resume_settings(run, {"epochs": 5, "seed": 9, "trials": 6})
    settings = resume_settings(run, {"epochs": 2, "trials": 6, "cpus_per_trial": 0.5})
    assert settings.trials == 6 and settings.cpus_per_trial == 0.5 and settings.epochs == 2


def test_a_summary_short_of_its_trials_is_interrupted(tmp_path):
    from raynas.run.summary import RunSummary

    counts = {"completed": 2, "failed": 1, "rejected": 0}
    assert RunSummary(tmp_path, 5, counts, None).interrupted
    assert not RunSummary(tmp_path, 3, counts, None, exhausted=True).interrupted


def test_the_settings_kept_on_resume_are_marked_on_their_fields():
    assert set(fixed_on_resume()) == {
        "space", "dataset", "limit", "strategy", "population_size", "sample_size", "epochs",
        "batch_size", "lr", "max_batches_per_epoch", "seed", "max_params", "max_flops",
        "objective", "max_latency_ms", "scheduler", "grace_epochs", "reduction_factor"}


def test_a_plan_resolves_everything_before_ray(tmp_path):
    plan = RunPlan.build(EvolveSettings(limit=50, out=str(tmp_path / "run"), max_params=10**9))
    assert plan.input_shape == (1, 28, 28) and plan.num_classes == 10
    assert plan.space.keys == ["conv1", "skipcon"] and plan.run_dir.path == tmp_path / "run"
    assert plan.screen()(plan.space.default()) is None
    assert plan.run_info().format_version == 1 and plan.run_info().num_classes == 10
    strategy = plan.make_strategy()
    assert strategy.budget == 12


def test_an_out_folder_holding_a_run_needs_resume(tmp_path):
    (tmp_path / "run" / "trials").mkdir(parents=True)
    (tmp_path / "run" / "trials" / "part-0.parquet").write_bytes(b"x")
    with pytest.raises(RunError, match="already holds a run; continue it with"):
        RunPlan.build(EvolveSettings(out=str(tmp_path / "run")))
