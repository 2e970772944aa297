"""Shared fixtures of the analysis tests: ONE real run made by the real ``raynas evolve``,
small hand-made runs (in progress, only failed) and checks of the report's files."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

RAYNAS = str(Path(sys.executable).parent / "raynas")
QUICK = ["--trials", "4", "--epochs", "1", "--limit", "300", "--num-cpus", "2", "-q"]


def cli_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


def _run(*args, cwd=None, timeout=600):
    return subprocess.run([RAYNAS, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(), cwd=cwd)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    """A real 4-trial run of ``raynas evolve`` (mnist space, digits), shared by every test."""
    root = tmp_path_factory.mktemp("analysis-run")
    out = root / "run"
    result = _run("evolve", "--out", out, *QUICK, cwd=root)
    if result.returncode != 0:
        raise AssertionError(f"raynas evolve exited {result.returncode}\nstdout:\n{result.stdout}"
                             f"\nstderr:\n{result.stderr[-4000:]}")
    return out


@pytest.fixture
def real_cli(tmp_path):
    """Run ``raynas ARGS`` (the installed script) in ``tmp_path``; returns CompletedProcess."""

    def run(*args, timeout=600):
        return _run(*args, cwd=tmp_path, timeout=timeout)

    return run


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run ``raynas ARGS`` in this process (click's runner: the commands' own code, no Python
    start per call) in ``tmp_path``; returns a CompletedProcess-like result."""
    from click.testing import CliRunner

    from raynas.cli.main import main

    def run(*args, timeout=None):
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(main, [str(a) for a in args], prog_name="raynas")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(["raynas", *map(str, args)], result.exit_code,
                                           result.stdout, result.stderr)

    return run


@pytest.fixture
def make_run(tmp_path):
    """``make_run(name, statuses, journal_only=False)``: a results folder of the mnist space.

    Row ``i`` has status ``statuses[i]``, genome cycling over the space's four genomes, the
    genome's true parameter count and accuracy ``0.5 + 0.05 * i`` when completed.
    ``journal_only`` leaves every row in ``trials.journal.jsonl`` (a run in progress).
    """
    import raynas.spaces
    from raynas import SearchSpace, count_parameters
    from raynas.results.store import ResultsWriter, make_row, write_run_info

    model = raynas.spaces.get("mnist")()
    space = SearchSpace.from_model(model)
    genomes = list(space.genomes())

    def make(name, statuses, journal_only=False):
        out = tmp_path / name
        write_run_info(out, {
            "settings": {"space": "mnist", "dataset": "digits", "strategy": "evolution",
                         "trials": len(statuses) + 2, "epochs": 1, "limit": 300, "seed": 0},
            "space": space.to_dict(), "input_shape": [1, 28, 28], "num_classes": 10})
        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        rows = []
        for i, status in enumerate(statuses):
            genome = genomes[i % len(genomes)]
            ok = status == "completed"
            rows.append(make_row(
                space.keys, genome, trial_id=f"trial_{i:03d}", order=i + 1, status=status,
                accuracy=0.5 + 0.05 * i if ok else None, loss=1.0 if ok else None,
                params=count_parameters(model, genome),
                started_at=t0 + timedelta(seconds=10 * i),
                finished_at=t0 + timedelta(seconds=10 * i + 12),
                error=None if ok else "RuntimeError: mat1 and mat2 shapes cannot be multiplied",
                strategy="evolution", seed=0))
        if journal_only:
            (out / "trials").mkdir(parents=True, exist_ok=True)
            with (out / "trials.journal.jsonl").open("w") as f:
                for row in rows:
                    f.write(json.dumps(row, default=lambda v: v.isoformat()) + "\n")
        else:
            writer = ResultsWriter(out, space.keys)
            for row in rows:
                writer.add(row)
            writer.close()
        return out

    return make


@pytest.fixture
def check_png():
    """``check_png(path)``: a real PNG, of a useful size, not one flat colour."""

    def check(path):
        import matplotlib.image as mpimg

        path = Path(path)
        assert path.is_file(), f"{path} was not written"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        image = mpimg.imread(path)
        assert image.ndim == 3 and image.shape[0] >= 200 and image.shape[1] >= 300, image.shape
        pixels = image[..., :3].reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 20, f"{path} is (nearly) one flat colour"
        # more than axes and text: a visible share of the image is not background white
        assert (pixels.min(axis=1) < 0.9).mean() > 0.01, f"{path} is nearly empty"

    return check
