"""Command options generated from settings models, and the one error path of the CLI."""

from click.testing import CliRunner

from raynas.analysis.retrain import TrainSettings
from raynas.cli.main import main
from raynas.cli.train import train_command


def test_every_train_setting_is_a_command_line_option():
    options = {param.name for param in train_command.params}
    assert set(TrainSettings.model_fields) <= options
    assert {"arch_file", "run_dir", "trial_id", "quiet"} <= options


def test_a_bad_setting_is_a_one_line_error_naming_the_field(tmp_path):
    result = CliRunner().invoke(main, ["train", "--arch", str(tmp_path / "a.json"),
                                       "--limit", "0"], prog_name="raynas")
    assert result.exit_code == 2
    assert result.stderr.startswith("raynas train: error: limit: Input should be greater")
    assert "(got 0)" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_of_a_folder_without_results_uses_the_same_error_path(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)], prog_name="raynas")
    assert result.exit_code == 2
    assert result.stderr.startswith("raynas report: error: ") and "holds no raynas results" \
        in result.stderr
