"""Issue 17 in the analysis commands: unwritable places (2), export never deletes a user's file
(5), ranking per genome (6), report on a folder that is not a run and --epochs 0 (9)."""

import json

import pytest

UNWRITABLE = "/sys/raynas-unwritable"  # /sys refuses new files, even to root


def test_export_never_deletes_a_file_it_did_not_write(cli, make_run, tmp_path):
    run = make_run("keep", ["completed"] * 4)
    out = tmp_path / "mine"
    out.mkdir()
    handmade = out / "rank01-handmade.json"
    handmade.write_text('{"conv1": "0"}')
    assert cli("export", run, "--top-k", "2", "--out", out).returncode == 0
    assert cli("export", run, "--top-k", "1", "--out", out).returncode == 0
    assert handmade.read_text() == '{"conv1": "0"}'
    assert len([p for p in out.glob("rank*.json") if p != handmade]) == 1  # ours replaced


def test_export_refuses_to_overwrite_a_file_in_the_way(cli, make_run, tmp_path):
    run = make_run("way", ["completed"] * 4)
    out = tmp_path / "way-out"
    first = cli("export", run, "--top-k", "1", "--out", out)
    name = next(out.glob("rank01-*.json")).name
    (out / "manifest.csv").unlink()  # the file is no longer known as ours
    result = cli("export", run, "--top-k", "1", "--out", out)
    assert first.returncode == 0 and result.returncode == 2
    assert f"{name} exists and was not written by an earlier raynas export" in result.stderr


def test_repeated_genomes_rank_once_by_their_mean(cli, make_run, tmp_path):
    from raynas.results.store import ranked_genomes, read_trials

    # 8 trials over the space's 4 genomes: each genome twice (accuracy 0.5 + 0.05 * i)
    run = make_run("repeat", ["completed"] * 8)
    table = ranked_genomes(read_trials(run))
    assert len(table) == 4 and list(table["trials"]) == [2, 2, 2, 2]
    best = table.iloc[0]
    assert best["accuracy"] == pytest.approx((0.5 + 0.05 * 3 + 0.5 + 0.05 * 7) / 2)
    assert best["accuracy_std"] == pytest.approx(0.1)
    assert best["trial_ids"] == ["trial_007", "trial_003"]
    out = tmp_path / "per-genome"
    result = cli("export", run, "--top-k", "5", "--out", out)
    assert result.returncode == 0, result.stderr
    genomes = [json.dumps(json.loads(p.read_text()), sort_keys=True)
               for p in sorted(out.glob("rank*.json"))]
    assert len(genomes) == 4 == len(set(genomes))  # each genome once
    manifest = (out / "manifest.csv").read_text()
    assert "trial_007 trial_003" in manifest and ",2," in manifest
    report = cli("report", run)
    assert "mean of 2 trials of its genome" in report.stdout
    html = (run / "report" / "index.html").read_text()
    assert "Top 10 genomes" in html and "trial_007, trial_003" in html


def test_report_on_a_folder_that_is_not_a_run_is_an_error(cli, tmp_path):
    folder = tmp_path / "not-a-run"
    (folder / "trials").mkdir(parents=True)
    result = cli("report", folder)
    assert result.returncode == 2
    assert "is not a raynas run folder" in result.stderr
    assert not (folder / "report").exists()


@pytest.mark.parametrize("command", [["report", "{run}", "--out", UNWRITABLE],
                                     ["export", "{run}", "--out", UNWRITABLE]])
def test_unwritable_report_and_export_folders_are_one_line_errors(cli, make_run, command):
    run = make_run("ro", ["completed"] * 2)
    result = cli(*[part.format(run=run) for part in command])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and UNWRITABLE in lines[0] and "not writable" in lines[0]


def test_train_checks_save_before_training(cli, make_run):
    run = make_run("save", ["completed"] * 2)
    result = cli("train", "--run", run, "--epochs", "1", "--save", f"{UNWRITABLE}/model.pt",
                 "-q")
    assert result.returncode == 2
    assert "--save folder /sys/raynas-unwritable is not writable" in result.stderr
    assert "validation accuracy" not in result.stdout  # refused before training


@pytest.mark.parametrize("command", [["train", "--arch", "x.json", "--epochs", "0"],
                                     ["evolve", "--epochs", "0"]])
def test_zero_epochs_is_an_error(cli, command):
    result = cli(*command)
    assert result.returncode == 2
    assert "epochs" in result.stderr and "greater than or equal to 1" in result.stderr
