"""A run's objectives: settings and the command line, the row -> told value mapping, the
resume rule, the Pareto front, the hypervolume over trials and ``export --pareto``."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from raynas.results.objectives import (best_by_objectives, hypervolume_curve, history,
                                       objective_front, objective_value, run_objectives)
from raynas.run.settings import EvolveSettings, load_yaml, settings_from


# ------------------------------------------------------------------ settings


def test_objectives_default_to_accuracy_max():
    assert EvolveSettings().objectives == {"accuracy": "max"}
    assert EvolveSettings().objective is None


def test_objectives_keep_their_order_and_canonical_text():
    s = EvolveSettings(objective=["latency_ms: min", "accuracy:max"])
    assert s.objective == ["latency_ms:min", "accuracy:max"]
    assert list(s.objectives.items()) == [("latency_ms", "min"), ("accuracy", "max")]
    assert EvolveSettings(objective="accuracy:max,params:min").objectives == \
        {"accuracy": "max", "params": "min"}


@pytest.mark.parametrize("given, words", [
    (["speed:max"], ["unknown metric 'speed'", "latency_ms"]),
    (["accuracy:up"], ["direction must be 'max' or 'min'", "'up'"]),
    (["accuracy:max", "accuracy:min"], ["given twice"]),
    (["accuracy"], ["METRIC:DIRECTION"]),
])
def test_bad_objectives_are_errors_naming_the_value(given, words):
    with pytest.raises(ValidationError) as info:
        EvolveSettings(objective=given)
    text = str(info.value)
    for word in words:
        assert word in text


@pytest.mark.parametrize("key", ["objective", "objectives"])
def test_yaml_lists_objectives(tmp_path, key):
    path = tmp_path / "run.yaml"
    path.write_text(f"{key}: [accuracy:max, latency_ms:min]\ntrials: 3\n")
    settings = settings_from(load_yaml(path), {})
    assert settings.objectives == {"accuracy": "max", "latency_ms": "min"}


def test_yaml_with_both_keys_is_an_error(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("objective: [accuracy:max]\nobjectives: [params:min]\n")
    with pytest.raises(ValueError, match="objective or objectives, not both"):
        load_yaml(path)


def _evolve(*args):
    from raynas.cli.main import main

    return CliRunner().invoke(main, ["evolve", *args], prog_name="raynas")


def test_cli_objective_is_repeatable():
    from raynas.cli.evolve import evolve_command

    option = next(p for p in evolve_command.params if p.name == "objective")
    assert option.multiple
    ctx = evolve_command.make_context("evolve", ["--objective", "accuracy:max",
                                                 "--objective", "params:min"])
    assert ctx.params["objective"] == ["accuracy:max", "params:min"]
    ctx = evolve_command.make_context("evolve", [])
    assert ctx.params["objective"] is None


@pytest.mark.parametrize("args, words", [
    (["--objective", "accuracy:max", "--objective", "speed:min"], "unknown metric 'speed'"),
    (["--objective", "accuracy:best"], "direction must be 'max' or 'min'"),
    (["--objective", "params:min", "--objective", "params:min"], "given twice"),
])
def test_cli_bad_objective_is_one_line_exit_2(args, words):
    result = _evolve(*args, "--trials", "1")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raynas evolve: error: objective")
    assert words in lines[0]


def test_resume_refuses_other_objectives(tmp_path):
    from raynas.results.store import write_run_info
    from raynas.run.errors import RunError
    from raynas.run.resume import resume_settings

    write_run_info(tmp_path, {"settings": EvolveSettings(
        objective=["accuracy:max", "latency_ms:min"], out=str(tmp_path)).model_dump()})
    same = resume_settings(tmp_path, {"objective": ["accuracy:max", "latency_ms:min"],
                                      "trials": 20})
    assert same.objectives == {"accuracy": "max", "latency_ms": "min"} and same.trials == 20
    with pytest.raises(RunError) as info:
        resume_settings(tmp_path, {"objective": ["accuracy:max", "params:min"]})
    message = str(info.value)
    assert "\n" not in message
    assert "objective (accuracy:max,latency_ms:min -> accuracy:max,params:min)" in message
    # an older run recorded no objectives: accuracy:max is the same, anything else is not
    write_run_info(tmp_path, {"settings": {"space": "mnist", "out": str(tmp_path)}})
    assert resume_settings(tmp_path, {"objective": ["accuracy:max"]}).objective == ["accuracy:max"]
    with pytest.raises(RunError, match="objective"):
        resume_settings(tmp_path, {"objective": ["loss:min"]})


def test_run_objectives_of_old_and_new_run_info():
    assert run_objectives({}) == {"accuracy": "max"}
    assert run_objectives({"objectives": {"accuracy": "max", "params": "min"}}) == \
        {"accuracy": "max", "params": "min"}
    assert run_objectives({"settings": {"objective": ["latency_ms:min"]}}) == {"latency_ms": "min"}


# ------------------------------------------------------------------ row -> told value


def test_objective_value_of_a_row():
    row = {"accuracy": 0.9, "loss": 0.3, "params": 1200, "flops": 5e5, "latency_ms": 1.5,
           "latency_batch_ms": 9.0}
    assert objective_value(row, {"accuracy": "max"}) == 0.9
    assert objective_value(row, {"loss": "min"}) == 0.3
    assert objective_value(row, {"accuracy": "max", "latency_ms": "min", "params": "min"}) == \
        {"accuracy": 0.9, "latency_ms": 1.5, "params": 1200.0}
    assert objective_value({**row, "latency_ms": None}, {"accuracy": "max", "latency_ms": "min"}) \
        is None
    assert objective_value({**row, "accuracy": float("nan")}, {"accuracy": "max"}) is None


def _frame(rows):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for i, row in enumerate(rows):
        out.append({"trial_id": f"t{i}", "order": i + 1, "status": "completed",
                    "genome": json.dumps({"conv1": str(i)}), "loss": 1.0, "params": 100,
                    "started_at": t0 + timedelta(seconds=i),
                    "finished_at": t0 + timedelta(seconds=i + 1), **row})
    return pd.DataFrame(out)


def test_history_tells_the_objectives_mapping():
    frame = _frame([{"accuracy": 0.8, "latency_ms": 2.0, "epochs": 3},
                    {"accuracy": None, "latency_ms": 1.0, "status": "failed"},
                    {"accuracy": 0.9, "latency_ms": 3.0, "epochs": 3},
                    {"accuracy": 0.7, "latency_ms": 1.5, "epochs": 1, "status": "stopped"}])
    told = list(history(frame, {"accuracy": "max", "latency_ms": "min"}))
    assert [v for _, v, _ in told] == [{"accuracy": 0.8, "latency_ms": 2.0}, None,
                                       {"accuracy": 0.9, "latency_ms": 3.0},
                                       {"accuracy": 0.7, "latency_ms": 1.5}]
    assert [f for _, _, f in told] == [3, None, 3, 1]  # the epochs trained: the fidelity
    assert told[0][0] == {"conv1": "0"}
    assert [v for _, v, _ in history(frame)] == [0.8, None, 0.9, 0.7]


def test_replay_of_a_multi_objective_history_rebuilds_the_front():
    import raynas.spaces
    import raynas.strategies
    from raynas import SearchSpace

    space = SearchSpace.from_model(raynas.spaces.get("mnist")())
    frame = _frame([{"accuracy": 0.8, "latency_ms": 2.0}, {"accuracy": 0.9, "latency_ms": 3.0}])
    frame["genome"] = [json.dumps(g) for g in list(space.genomes())[:2]]
    objectives = {"accuracy": "max", "latency_ms": "min"}
    strategy = raynas.strategies.get("evolution")(space, seed=0, objectives=objectives)
    strategy.replay(list(history(frame, objectives)))
    assert sorted(r["accuracy"] for _, r in strategy.pareto_front()) == [0.8, 0.9]


# ------------------------------------------------------------------ front and hypervolume


MO = {"accuracy": "max", "latency_ms": "min"}


def test_objective_front_is_the_non_dominated_rows_best_first():
    frame = _frame([{"accuracy": 0.80, "latency_ms": 1.0},   # front
                    {"accuracy": 0.70, "latency_ms": 2.0},   # dominated by t0
                    {"accuracy": 0.95, "latency_ms": 3.0},   # front
                    {"accuracy": 0.90, "latency_ms": 2.0},   # front
                    {"accuracy": None, "latency_ms": 0.1, "status": "failed"},
                    {"accuracy": 0.99, "latency_ms": None}])  # no latency: not scored
    front = objective_front(frame, MO)
    assert list(front["trial_id"]) == ["t2", "t3", "t0"]
    three = objective_front(frame.assign(params=[100, 50, 100, 100, 100, 100]),
                            {**MO, "params": "min"})
    assert set(three["trial_id"]) == {"t0", "t1", "t2", "t3"}


def test_a_genome_trained_again_is_on_the_front_once():
    same = json.dumps({"conv1": "same"})
    frame = _frame([{"accuracy": 0.96, "latency_ms": 2.0, "genome": same},
                    {"accuracy": 0.80, "latency_ms": 0.5},
                    {"accuracy": 0.90, "latency_ms": 1.0, "genome": same},  # also non-dominated
                    {"accuracy": 0.70, "latency_ms": 3.0, "genome": same}])  # dominated
    front = objective_front(frame, MO)
    assert list(front["trial_id"]) == ["t0", "t1"]  # the genome by its first row on the front
    best = best_by_objectives(frame, {"latency_ms": "min", "accuracy": "max"})
    assert list(best["trial_id"]) == ["t1", "t2"]  # one row per genome, its best by latency


def test_hypervolume_curve_is_normalised_and_never_falls():
    frame = _frame([{"accuracy": 0.80, "latency_ms": 1.0},
                    {"accuracy": None, "latency_ms": 5.0, "status": "failed"},
                    {"accuracy": 0.90, "latency_ms": 3.0},
                    {"accuracy": 0.70, "latency_ms": 2.0}])
    curve = hypervolume_curve(frame, MO)
    hv = curve["hypervolume"].to_numpy()
    assert list(curve["order"]) == [1, 2, 3, 4]
    assert np.all(np.diff(hv) >= 0) and 0 < hv[0] and hv[-1] <= 1
    # scaled to minimise over the completed trials (accuracy 0.7..0.9, latency 1..3):
    # t0 = (0.5, 0), t2 = (0, 1), t3 = (1, 0.5); reference 1.1 in each
    box = 1.1 * 1.1
    assert hv[0] == pytest.approx(0.6 * 1.1 / box)
    assert hv[1] == hv[0]  # a failed trial adds nothing
    assert hv[2] == pytest.approx((0.6 * 1.1 + 0.5 * 0.1) / box)
    assert hv[3] == hv[2]  # dominated by t0


# ------------------------------------------------------------------ export --pareto


def _mo_run(tmp_path, objectives):
    import raynas.spaces
    from raynas import SearchSpace
    from raynas.results.store import ResultsWriter, make_row, write_run_info

    space = SearchSpace.from_model(raynas.spaces.get("mnist")())
    genomes = list(space.genomes())
    write_run_info(tmp_path, {"settings": {"space": "mnist", "objective": objectives},
                              "objectives": dict(o.split(":") for o in objectives),
                              "space": space.to_dict()})
    writer = ResultsWriter(tmp_path, space.keys)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i, (acc, lat) in enumerate([(0.80, 1.0), (0.70, 2.0), (0.95, 3.0), (0.90, 2.0)]):
        writer.add(make_row(space.keys, genomes[i], trial_id=f"t{i}", order=i + 1,
                            status="completed", accuracy=acc, loss=1.0, params=1000 - i,
                            latency_ms=lat, latency_batch_ms=lat * 10, started_at=t0,
                            finished_at=t0))
    writer.close()
    return tmp_path


def test_export_pareto_uses_the_run_objectives(tmp_path):
    from raynas.analysis.export import export_run

    run = _mo_run(tmp_path / "run", ["accuracy:max", "latency_ms:min"])
    written = export_run(run, tmp_path / "front", pareto=True)
    assert [w["trial_id"] for w in written] == ["t2", "t3", "t0"]
    assert [w["latency_ms"] for w in written] == [3.0, 2.0, 1.0]
    manifest = (tmp_path / "front" / "manifest.csv").read_text().splitlines()
    assert manifest[0] == ("file,rank,trial_id,accuracy,accuracy_std,trials,trial_ids,params,"
                           "latency_ms,genome")
    # first objective latency: the front, fastest first; top-k by latency
    run2 = _mo_run(tmp_path / "run2", ["latency_ms:min", "accuracy:max"])
    assert [w["trial_id"] for w in export_run(run2, tmp_path / "f2", pareto=True)] == \
        ["t0", "t3", "t2"]
    assert [w["trial_id"] for w in export_run(run2, tmp_path / "f3", top_k=2)] == ["t0", "t3"]


def test_train_run_takes_the_best_by_the_first_objective(tmp_path):
    from raynas.analysis.retrain import _run_trial

    run = _mo_run(tmp_path / "run", ["latency_ms:min", "accuracy:max"])
    _, row = _run_trial(run, None)
    assert row["trial_id"] == "t0"
