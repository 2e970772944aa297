"""``raynas list`` shows the registered spaces, strategies and datasets without torch."""

import subprocess
import sys

import raynas.datasets
import raynas.spaces

PROBE = """
import sys
from click.testing import CliRunner
from raynas.cli.main import main
result = CliRunner().invoke(main, ["list"])
assert result.exit_code == 0, result.output
print(result.output)
print("TORCH" if "torch" in sys.modules else "NO-TORCH")
print("RAY" if "ray" in sys.modules else "NO-RAY")
"""


def test_list_imports_neither_torch_nor_ray():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "NO-TORCH" in out and "NO-RAY" in out
    assert "space     mnist          input 1x28x28, 10 classes" in out
    assert "space     nasbench201    input 3x32x32, 10 classes" in out
    assert "strategy  evolution" in out and "dataset   cifar10" in out


def test_listed_metadata_matches_what_is_registered():
    assert set(raynas.datasets.BUILTIN) == set(raynas.datasets.names())
    for name in raynas.spaces.names():
        info, factory = raynas.spaces.info(name), raynas.spaces.get(name)
        assert info.input_shape == factory.input_shape
        assert info.num_classes == factory.num_classes
