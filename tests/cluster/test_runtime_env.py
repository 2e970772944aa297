"""A user's space file reaches Ray workers through the runtime environment, not the disk."""

import shutil
import uuid

import pytest
import ray

from raynas.run.space_source import parse_space

SPACE = '''
import torch.nn as nn
from raynas import LayerChoice
from my_blocks import make_head  # a neighbour of the space file

# {tag}: makes this file's content, and so its shipped package, unique to the test run


class TinySpace(nn.Module):
    input_shape = (1, 8, 8)
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.body = LayerChoice([make_head(64), nn.Sequential(nn.Linear(64, 8), nn.Linear(8, 10))])

    def forward(self, x):
        return self.body(x.flatten(1))
'''


@pytest.fixture(scope="module")
def shipped_space(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_space.py"
    path.write_text(SPACE.format(tag=uuid.uuid4().hex))
    (path.parent / "my_blocks.py").write_text(
        "import torch.nn as nn\n\ndef make_head(n):\n    return nn.Linear(n, 10)\n")
    source = parse_space(f"{path}:TinySpace")
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=source.runtime_env())
    yield source, path
    ray.shutdown()


@pytest.mark.slow  # real Ray workers with a runtime environment (tens of seconds)
def test_workers_build_the_space_from_the_shipped_package(shipped_space):
    source, path = shipped_space
    local_copy = source.package_dir
    path.unlink()                # neither the user's files ...
    (path.parent / "my_blocks.py").unlink()
    shutil.rmtree(local_copy)    # ... nor raynas's local package exists any more

    @ray.remote
    def build(source):
        import sys

        from raynas import SearchSpace, count_parameters

        model = source.factory()()
        module = sys.modules[type(model).__module__]
        return SearchSpace.from_model(model).keys, count_parameters(model), module.__file__

    keys, params, module_file = ray.get(build.remote(source))
    assert keys == ["body"] and params > 0
    assert not module_file.startswith(local_copy)  # imported from Ray's runtime resources


def test_unknown_class_in_a_space_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other_space.py"
    path.write_text("import torch.nn as nn\n")
    with pytest.raises(ValueError, match="has no 'Missing'"):
        parse_space(f"{path}:Missing")
    with pytest.raises(ValueError, match="does not exist"):
        parse_space(f"{tmp_path / 'absent.py'}:Net")
