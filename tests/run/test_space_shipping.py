"""A space file ships with the modules it imports from beside it, and nothing else."""

from pathlib import Path

from raynas.run.space_source import local_imports, parse_space

SPACE = '''
import os
import torch.nn as nn
from raynas import LayerChoice
from blocks import make_head          # a neighbour
from . import helpers                 # a relative import of a neighbour


class Net(nn.Module):
    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.body = LayerChoice([make_head(64), nn.Linear(64, 10)])

    def forward(self, x):
        return self.body(x.flatten(1))
'''


def make_folder(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "space.py").write_text(SPACE)
    (folder / "blocks.py").write_text("import torch.nn as nn\nimport layers\n\n"
                                      "def make_head(n):\n    return layers.linear(n)\n")
    (folder / "layers.py").write_text("import torch.nn as nn\n\n"
                                      "def linear(n):\n    return nn.Linear(n, 10)\n")
    (folder / "helpers.py").write_text("VALUE = 1\n")
    for i in range(8):  # unrelated scripts of the project
        (folder / f"script{i}.py").write_text("print('unrelated')\n")
    (folder / "settings.py").write_text("API_KEY = 'secret'\n")
    (folder / "secrets.yaml").write_text("token: secret\n")
    return folder


def test_local_imports_follow_the_import_graph_only(tmp_path):
    folder = make_folder(tmp_path)
    names = [p.name for p in local_imports(folder / "space.py")]
    assert names == ["blocks.py", "helpers.py", "layers.py", "space.py"]


def test_the_shipped_package_and_the_run_copy_hold_only_what_is_imported(tmp_path):
    folder = make_folder(tmp_path)
    source = parse_space(f"{folder / 'space.py'}:Net")
    shipped = sorted(p.name for p in Path(source.package_dir).iterdir()
                     if not p.name.startswith("__pycache__"))
    assert shipped == ["__init__.py", "blocks.py", "helpers.py", "layers.py", "space.py"]
    model = source.build()  # the shipped copy imports its neighbours
    assert model.body is not None
    source.keep_copy(tmp_path / "run")
    kept = sorted(p.name for p in (tmp_path / "run" / "space").iterdir())
    assert kept == ["blocks.py", "helpers.py", "layers.py", "space.py"]
