"""``raynas oneshot``'s settings and errors (no Ray), the retrain choice, stage-aware ranking and
the inherited-vs-retrained pairs."""

from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner

from raynas.cli.main import main
from raynas.oneshot.retrain import inherited_ranking, retrain_choices
from raynas.oneshot.run import _check_weight_sharing
from raynas.oneshot.settings import EVOLVE_ONLY, OneshotSettings
from raynas.results.run_dir import RunDir, RunInfo
from raynas.results.stages import inherited_vs_retrained, kendall_tau
from raynas.results.store import make_row, ranked
from raynas.run.errors import RunError
from raynas.run.settings import trial_seed

KEYS = ["op"]



def invoke(*args, cwd=None):
    return CliRunner().invoke(main, ["oneshot", *map(str, args)], prog_name="raynas",
                            catch_exceptions=False)


def test_help_has_oneshot_options_and_not_evolves_counts():
    result = invoke("--help")
    assert result.exit_code == 0
    for flag in ("--supernet-epochs", "--candidates", "--retrain-top-k", "--retrain-epochs",
                 "--workers", "--space", "--dataset", "--strategy", "--seed", "--out",
                 "--num-cpus", "--gpus-per-trial", "--address", "--config", "--resume"):
        assert flag in result.output
    for name in EVOLVE_ONLY:
        assert f"--{name.replace('_', '-')} " not in result.output


def test_retrain_top_k_above_candidates_is_a_one_line_error(tmp_path):
    result = invoke("--candidates", 2, "--retrain-top-k", 3, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "raynas oneshot: error: --retrain-top-k must be <= --candidates, got retrain_top_k=3, "
        "candidates=2; lower --retrain-top-k or raise --candidates"]
    assert not (tmp_path / "run").exists()


def test_yaml_settings_are_checked_too(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("candidates: 5\nretrain-top-k: 9\n")
    result = invoke("-c", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "retrain_top_k=9, candidates=5" in result.output


def test_a_space_with_value_choices_is_a_run_error_naming_the_space(tiny_space):
    # ValueChoice is not in this branch yet (issue 8): a space whose dimensions include a value
    # decision, as phase 1's check is tested
    width = SimpleNamespace(key="width", kind="value")
    space = SimpleNamespace(dimensions=[*tiny_space.dimensions, width])
    plan = SimpleNamespace(space=space, settings=SimpleNamespace(space="wide.py:Net"))
    with pytest.raises(RunError) as err:
        _check_weight_sharing(plan)
    text = str(err.value)
    assert "\n" not in text and text.startswith("--space wide.py:Net: one-shot search shares")
    assert "'width' (value)" in text and "raynas evolve" in text


def test_max_params_does_not_apply(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("max_params: 1000\n")
    result = invoke("-c", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "--max-params does not apply to raynas oneshot" in result.output


@pytest.mark.parametrize("option, message", [
    (("--max-latency-ms", 5), "--max-latency-ms does not apply to raynas oneshot"),
    (("--objective", "accuracy:max", "--objective", "latency_ms:min"),
     "--objective latency_ms: the one-shot search measures only accuracy, loss, params"),
])
def test_what_inherited_weights_cannot_measure_is_refused(tmp_path, option, message):
    result = invoke(*option, "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_resume_of_an_evolve_run_is_refused(tmp_path):
    run = tmp_path / "run"
    RunDir(run).write_info(RunInfo(settings={"space": "mnist", "trials": 4}))
    (run / "trials").mkdir()
    result = invoke("--resume", run)
    assert result.exit_code == 2
    assert "not a one-shot run" in result.output and "raynas evolve --resume" in result.output


def test_resume_keeps_the_settings_that_shape_results(tmp_path):
    run = tmp_path / "run"
    settings = OneshotSettings(out=str(run), candidates=10, retrain_top_k=2)
    RunDir(run).write_info(RunInfo(settings=settings.model_dump()))
    (run / "trials").mkdir()
    result = invoke("--resume", run, "--retrain-epochs", 9)
    assert result.exit_code == 2
    assert "changed: retrain_epochs (3 -> 9)" in result.output


def rows(*specs):
    """Rows from (trial_id, op, stage, accuracy) tuples, in order."""
    return pd.DataFrame([make_row(KEYS, {"op": op}, trial_id=t, order=i, status="completed",
                                  stage=stage, accuracy=acc, params=10)
                         for i, (t, op, stage, acc) in enumerate(specs, 1)])


def test_ranked_puts_retrained_rows_first():
    frame = rows(("o1", "a", "oneshot", 0.9), ("o2", "b", "oneshot", 0.5),
                 ("r1", "b", "retrain", 0.6), ("r2", "a", "retrain", 0.7))
    assert list(ranked(frame)["trial_id"]) == ["r2", "r1", "o1", "o2"]
    evolve = rows(("e1", "a", None, 0.4), ("e2", "b", None, 0.8))
    assert list(ranked(evolve)["trial_id"]) == ["e2", "e1"]


def test_ranked_breaks_inherited_accuracy_ties_by_lower_loss_not_params():
    def row(trial_id, order, stage, loss, params):
        return make_row(KEYS, {"op": trial_id}, trial_id=trial_id, order=order,
                        status="completed", stage=stage, accuracy=0.9, loss=loss, params=params)

    frame = pd.DataFrame([row("o1", 1, "oneshot", 0.30, 5), row("o2", 2, "oneshot", 0.10, 50),
                          row("o3", 3, "oneshot", None, 1), row("r1", 4, "retrain", 0.50, 5),
                          row("r2", 5, "retrain", 0.01, 50)])
    # inherited rows: lower loss first, a missing loss last; retrained rows keep fewer params
    assert list(ranked(frame)["trial_id"]) == ["r1", "r2", "o2", "o1", "o3"]
    evolve = pd.DataFrame([row("e1", 1, None, 0.01, 50), row("e2", 2, None, 0.30, 5)])
    assert list(ranked(evolve)["trial_id"]) == ["e2", "e1"]


def test_retrain_choices_follow_the_run_objectives():
    def row(trial_id, order, accuracy, loss, params):
        return make_row(KEYS, {"op": trial_id}, trial_id=trial_id, order=order,
                        status="completed", stage="oneshot", accuracy=accuracy, loss=loss,
                        params=params)

    frame = pd.DataFrame([row("a", 1, 0.9, 0.3, 50), row("b", 2, 0.8, 0.2, 10),
                          row("c", 3, 0.7, 0.4, 5), row("d", 4, 0.6, 0.5, 40)])
    def chosen(objectives, k=2):
        return [c["genome"]["op"] for c in retrain_choices(frame, k, 0, objectives)[0]]

    assert chosen(None) == ["a", "b"]
    assert chosen({"loss": "min"}) == ["b", "a"]
    assert chosen({"params": "min"}) == ["c", "b"]
    # a, b, c are the front (d is dominated by b): front first, by accuracy, then the rest
    assert chosen({"accuracy": "max", "params": "min"}, 4) == ["a", "b", "c", "d"]
    assert chosen({"params": "min", "accuracy": "max"}, 4) == ["c", "b", "a", "d"]
    # the run's summary names the same best inherited row
    assert inherited_ranking(frame, {"loss": "min"}).iloc[0]["trial_id"] == "b"
    assert inherited_ranking(frame.iloc[0:0], {"loss": "min", "params": "min"}).empty


def test_retrain_choices_are_the_top_distinct_genomes_not_yet_retrained():
    frame = rows(("o1", "a", "oneshot", 0.9), ("o2", "a", "oneshot", 0.9),
                 ("o3", "b", "oneshot", 0.8), ("o4", "c", "oneshot", 0.7),
                 ("o5", "d", "oneshot", 0.1))
    configs, already = retrain_choices(frame, 3, run_seed=5)
    assert already == 0
    assert [c["genome"] for c in configs] == [{"op": "a"}, {"op": "b"}, {"op": "c"}]
    assert [c["order"] for c in configs] == [6, 7, 8]
    assert [c["parent_trial_id"] for c in configs] == ["o1", "o3", "o4"]
    assert configs[0]["trial_seed"] == trial_seed(5, 6)
    done = pd.concat([frame, rows(("o", "a", "oneshot", 0.0))[0:0],
                      pd.DataFrame([make_row(KEYS, {"op": "b"}, trial_id="r1", order=6,
                                             status="completed", stage="retrain", accuracy=0.5)])],
                     ignore_index=True)
    configs, already = retrain_choices(done, 3, run_seed=5)
    assert already == 1 and [c["genome"] for c in configs] == [{"op": "a"}, {"op": "c"}]
    assert configs[0]["order"] == 7


def test_pairs_and_kendall_tau():
    frame = rows(("o1", "a", "oneshot", 0.9), ("o2", "b", "oneshot", 0.8),
                 ("o3", "c", "oneshot", 0.7), ("r1", "a", "retrain", 0.95),
                 ("r2", "b", "retrain", 0.85), ("r3", "c", "retrain", 0.99))
    pairs = inherited_vs_retrained(frame)
    assert list(pairs["trial_id"]) == ["r1", "r2", "r3"]
    assert list(pairs["inherited"]) == [0.9, 0.8, 0.7]
    assert kendall_tau(pairs) == pytest.approx(-1 / 3)
    assert kendall_tau(pairs.head(1)) is None
    assert inherited_vs_retrained(rows(("e", "a", None, 0.5))).empty


def test_inherited_ties_on_another_objective_rank_by_lower_loss():
    frame = pd.DataFrame([make_row(KEYS, {"op": t}, trial_id=t, order=i, status="completed",
                                   stage="oneshot", accuracy=0.5, loss=loss, params=10)
                          for i, (t, loss) in enumerate([("a", 0.4), ("b", 0.1), ("c", 0.2)], 1)])
    assert list(inherited_ranking(frame, {"params": "min"})["trial_id"]) == ["b", "c", "a"]
    assert list(inherited_ranking(frame, {"accuracy": "max", "params": "min"})["trial_id"]) \
        == ["b", "c", "a"]
