"""The run folder as a type: run.json's format versions, the writer lock, the space copy."""

import json

import pytest

from raynas.core.files import atomic_write_text
from raynas.results.run_dir import RUN_FORMAT_VERSION, RunDir, RunInfo
from raynas.results.store import ResultsError, ResultsWriter
from raynas.run.errors import RunError
from raynas.run.resume import resume_settings

# run.json as raynas 0.1.0 wrote it: no format_version
V010 = {"settings": {"space": "mnist", "dataset": "digits", "strategy": "evolution", "trials": 3,
                     "epochs": 1, "limit": 300, "seed": 0, "cpus_per_trial": 1.0},
        "space": {"format": "raynas.core.space/1", "dimensions": []},
        "input_shape": [1, 28, 28], "num_classes": 10, "dataset": "digits(...)",
        "updated_at": "2026-01-01T00:00:00"}


def write_v010(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(V010))
    return folder


def test_a_010_run_json_reads_as_format_0_and_resumes(tmp_path):
    run = write_v010(tmp_path / "run")
    info = RunDir(run).read_info()
    assert info.format_version == 0 and info.settings["epochs"] == 1 and info.num_classes == 10
    settings = resume_settings(run, {"trials": 5})
    assert settings.trials == 5 and settings.epochs == 1 and settings.out == str(run)


def test_a_newer_format_fails_resume_naming_the_version(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({**V010, "format_version": 99, "new_field": 1}))
    assert RunDir(run).read_info().format_version == 99  # report/export still read it
    with pytest.raises(RunError, match=r"format version 99, newer than .*versions 0 to "
                                       rf"{RUN_FORMAT_VERSION}.*upgrade raynas"):
        resume_settings(run, {"trials": 5})


def test_written_run_json_carries_the_current_version(tmp_path):
    folder = RunDir(tmp_path / "run")
    folder.write_info(RunInfo(format_version=0, settings={"trials": 2}))
    data = json.loads(folder.info_path.read_text())
    assert data["format_version"] == RUN_FORMAT_VERSION and data["settings"] == {"trials": 2}


@pytest.mark.parametrize("text, match", [("{", "corrupt run settings"),
                                         ('{"format_version": -1}', "corrupt run settings")])
def test_a_corrupt_run_json_is_a_clear_error(tmp_path, text, match):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(ResultsError, match=match):
        RunDir(tmp_path).read_info()
    with pytest.raises(ResultsError, match="is not a raynas run folder"):
        RunDir(tmp_path / "absent").read_info()


def test_one_writer_lock_per_run_folder(tmp_path):
    writer = ResultsWriter(tmp_path, ["a"])
    with pytest.raises(ResultsError, match="being written by another raynas process"):
        RunDir(tmp_path).acquire_writer_lock()
    writer.close()
    RunDir(tmp_path).acquire_writer_lock().release()


def test_the_space_copy_serves_a_moved_space_file(tmp_path):
    space = tmp_path / "user" / "net.py"
    space.parent.mkdir()
    space.write_text("x = 1\n")
    folder = RunDir(tmp_path / "run")
    folder.keep_space_files([space])
    space.write_text("x = 2\n")
    folder.keep_space_files([space])  # the first copy stays
    assert (folder.space_dir / "net.py").read_text() == "x = 1\n"
    assert folder.space_spec(f"{space}:Net") == f"{space}:Net"  # still where it was
    space.unlink()
    assert folder.space_spec(f"{space}:Net") == f"{(folder.space_dir / 'net.py').resolve()}:Net"
    assert folder.space_spec("mnist") == "mnist"


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.json", "{}")
    assert path.read_text() == "{}" and [p.name for p in path.parent.iterdir()] == ["a.json"]

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    from raynas.core.files import atomic_write
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "{}" and [p.name for p in path.parent.iterdir()] == ["a.json"]
