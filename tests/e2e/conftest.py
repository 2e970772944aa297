"""Helpers for end-to-end tests: run the real ``raynas`` command, each run on its own local Ray."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

RAYNAS = str(Path(sys.executable).parent / "raynas")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def cli_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def run_cli(tmp_path):
    """Run ``raynas ARGS`` to completion; returns the CompletedProcess."""

    def run(*args, timeout=600, check=True):
        result = subprocess.run([RAYNAS, *map(str, args)], capture_output=True, text=True,
                                timeout=timeout, env=cli_env(), cwd=tmp_path)
        if check and result.returncode != 0:
            raise AssertionError(f"raynas {' '.join(map(str, args))} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}")
        return result

    return run


@pytest.fixture
def start_cli(tmp_path):
    """Start ``raynas ARGS`` in its own session (so the test can kill it and its local Ray)."""
    started = []

    def start(*args):
        process = subprocess.Popen([RAYNAS, *map(str, args)], env=cli_env(), cwd=tmp_path,
                                   start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.fixture
def fixtures_dir():
    return FIXTURES
