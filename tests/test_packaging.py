"""A regular (non-editable) install puts raynas.strategies and raynas.spaces inside raynas."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel into a fresh venv

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_install_into_fresh_venv(tmp_path):
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheel_dir.glob("raynas-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site,
                    str(wheel)], check=True, capture_output=True)
    # The third-party dependencies come from this environment, after the fresh venv's own.
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    top_level = sorted(p.name for p in Path(site).iterdir()
                       if not p.name.endswith((".dist-info", ".pth")) and p.name != "bin")  # bin: --target scripts
    assert top_level == ["raynas"], top_level
    probe = ("import raynas, raynas.strategies, raynas.spaces, sys; "
             "print(raynas.strategies.__file__); print(raynas.spaces.__file__); "
             "print(sorted(raynas.spaces.names()))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout.splitlines()
    assert out[0].startswith(site) and out[1].startswith(site), out
    assert "mnist" in out[2]
    assert (Path(site) / "raynas" / "strategies" / "__init__.py").exists()

    # Started from the checkout, the checkout's raynas/ comes first on the path (Ray does the
    # same to its workers): it must still find the strategies and spaces beside it.
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True,
                         cwd=ROOT, env=env).stdout.splitlines()
    assert out[0] == str(ROOT / "strategies" / "__init__.py"), out
    assert out[1] == str(ROOT / "spaces" / "__init__.py"), out
    assert "mnist" in out[2]
