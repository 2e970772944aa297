"""``raynas export``: the best (or Pareto) genomes of a run as files that load and fix."""

import csv
import json

import pytest

import raynas.spaces
from raynas import fix, load_architecture
from raynas.results.store import read_trials


def _rows(run):
    frame = read_trials(run)
    return {row["trial_id"]: row for _, row in frame.iterrows()}


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_top_k_round_trips_through_load_and_fix(cli, real_run, tmp_path):
    out = tmp_path / "top"
    result = cli("export", real_run, "--top-k", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("rank*.json"))
    assert [f.name[:7] for f in files] == ["rank01-", "rank02-"]
    rows = _rows(real_run)
    accuracies = []
    for path in files:
        trial_id = path.stem.split("-", 1)[1]
        row = rows[trial_id]
        assert row["status"] == "completed"
        genome = load_architecture(path)
        assert genome == json.loads(row["genome"])
        model = fix(raynas.spaces.get("mnist")(), genome)
        assert _n_params(model) == row["params"]
        accuracies.append(row["accuracy"])
        assert path.name in result.stdout
    assert accuracies == sorted(accuracies, reverse=True)
    completed = [r["accuracy"] for r in rows.values() if r["status"] == "completed"]
    assert accuracies[0] == max(completed)
    manifest = list(csv.DictReader((out / "manifest.csv").open()))
    assert [m["file"] for m in manifest] == [f.name for f in files]


@pytest.mark.slow  # uses the real `raynas evolve` run
def test_default_out_is_the_run_export_folder(cli, real_run):
    result = cli("export", real_run)
    assert result.returncode == 0, result.stderr
    n_completed = sum(r["status"] == "completed" for r in _rows(real_run).values())
    assert len(list((real_run / "export").glob("rank*.json"))) == min(5, n_completed)


def test_pareto_exports_the_front(cli, make_run, tmp_path):
    # genomes cycle 0..3; params: conv1 "1" (5x5) has more parameters than "0" (3x3)
    run = make_run("pareto", ["completed"] * 6)
    out = tmp_path / "front"
    result = cli("export", run, "--pareto", "--out", out)
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("pareto*.json"))
    assert files and all(f.name.startswith("pareto0") for f in files)
    rows = _rows(run)
    chosen = [rows[f.stem.split("-", 1)[1]] for f in files]
    params = [r["params"] for r in chosen]
    accuracy = [r["accuracy"] for r in chosen]
    assert params == sorted(params) and accuracy == sorted(accuracy)
    for row in rows.values():  # nothing outside the front dominates a front member
        for member in chosen:
            assert not (row["params"] <= member["params"] and row["accuracy"] > member["accuracy"])
    for path in files:
        model = fix(raynas.spaces.get("mnist")(), load_architecture(path))
        assert _n_params(model) == rows[path.stem.split("-", 1)[1]]["params"]


def test_reexport_replaces_older_files(cli, make_run, tmp_path):
    run = make_run("again", ["completed"] * 4)
    out = tmp_path / "again-out"
    assert cli("export", run, "--top-k", "4", "--out", out).returncode == 0
    assert cli("export", run, "--top-k", "1", "--out", out).returncode == 0
    assert len(list(out.glob("rank*.json"))) == 1


@pytest.mark.parametrize("args, message", [
    (["--top-k", "0"], "--top-k must be a positive integer"),
    ([], "no completed trial to export"),
])
def test_export_errors(cli, make_run, args, message):
    run = make_run("bad", ["failed", "rejected"])
    result = cli("export", run, *args)
    assert result.returncode != 0
    assert message in result.stderr
