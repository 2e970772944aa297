"""LayerChoice / InputChoice / MutableScope semantics (NNI v1) and key binding."""

import json
import subprocess
import sys
import textwrap
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

from raynas import InputChoice, LayerChoice, MutableScope, SearchSpace


def test_layer_choice_list_names_and_real_submodules():
    lc = LayerChoice([nn.Linear(4, 3), nn.Linear(4, 3, bias=False)])
    assert lc.names == ["0", "1"]
    assert len(lc) == 2 and isinstance(lc["1"], nn.Linear)
    keys = set(lc.state_dict())
    assert keys == {"0.weight", "0.bias", "1.weight"}
    assert sum(1 for _ in lc.parameters()) == 3


def test_layer_choice_ordered_dict_names_and_current_choice():
    torch.manual_seed(0)
    lc = LayerChoice(OrderedDict([("a", nn.Identity()), ("b", nn.ReLU())]))
    x = torch.randn(2, 3)
    assert torch.equal(lc(x), x)  # default: first candidate
    lc.set_choice([1])
    assert torch.equal(lc(x), torch.relu(x))
    assert lc.chosen == ["b"]


def test_layer_choice_return_mask():
    lc = LayerChoice([nn.Identity(), nn.ReLU()], return_mask=True)
    out, mask = lc(torch.ones(1, 2))
    assert mask.tolist() == [True, False] and out.shape == (1, 2)


def test_layer_choice_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one candidate"):
        LayerChoice([])
    with pytest.raises(ValueError, match="reduction"):
        LayerChoice([nn.Identity()], reduction="max")
    with pytest.raises(TypeError, match="nn.Module"):
        LayerChoice([nn.Identity(), "conv"])


@pytest.mark.parametrize("reduction,expected", [
    ("sum", lambda a, b: a + b), ("mean", lambda a, b: (a + b) / 2),
    ("concat", lambda a, b: torch.cat([a, b], 1)), ("none", lambda a, b: [a, b])])
def test_input_choice_reductions(reduction, expected):
    a, b, c = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    ic = InputChoice(n_candidates=3, reduction=reduction)
    ic.set_choice([0, 2])
    out = ic([a, b, c])
    want = expected(a, c)
    if reduction == "none":
        assert len(out) == 2 and all(torch.equal(x, y) for x, y in zip(out, want))
    else:
        assert torch.allclose(out, want)


def test_input_choice_empty_is_none_and_mask():
    ic = InputChoice(n_candidates=2, return_mask=True)
    ic.set_choice([])
    out, mask = ic([torch.ones(1), torch.ones(1)])
    assert out is None and mask.tolist() == [False, False]


def test_input_choice_dict_input_and_defaults():
    ic = InputChoice(choose_from=["x", "y"], n_chosen=1)
    assert ic.chosen == ["x"]  # default: the first n_chosen inputs
    x, y = torch.zeros(1), torch.ones(1)
    assert torch.equal(ic({"x": x, "y": y}), x)
    with pytest.raises(ValueError, match="misses"):
        ic({"x": x})
    with pytest.raises(ValueError, match="list of 2 inputs"):
        ic([x])
    assert InputChoice(n_candidates=3).chosen == ["0", "1", "2"]  # any subset: all by default


def test_input_choice_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_candidates or choose_from"):
        InputChoice()
    with pytest.raises(ValueError, match="n_chosen"):
        InputChoice(n_candidates=2, n_chosen=3)
    with pytest.raises(ValueError, match="disagrees"):
        InputChoice(n_candidates=3, choose_from=["a", "b"])


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = LayerChoice([nn.Identity(), nn.ReLU()])
        self.skip = InputChoice(n_candidates=2, n_chosen=1)

    def forward(self, x):
        y = self.op(x)
        return self.skip([x, y])


def test_automatic_keys_are_module_paths():
    model = nn.Sequential(Block(), Block())
    space = SearchSpace.from_model(model)
    assert space.keys == ["0.op", "0.skip", "1.op", "1.skip"]
    assert model[1].op.key == "1.op"


class Cell(MutableScope):
    def __init__(self, name):
        super().__init__(name)
        self.op = LayerChoice([nn.Identity(), nn.ReLU()])
        self.shared = LayerChoice([nn.Identity(), nn.Tanh()], key="act")

    def forward(self, x):
        return self.shared(self.op(x))


def test_mutable_scope_prefixes_keys():
    model = nn.Sequential(Cell("cell1"), Cell("cell2"))
    space = SearchSpace.from_model(model)
    assert space.keys == ["cell1/op", "cell1/act", "cell2/op", "cell2/act"]
    with pytest.raises(ValueError, match="non-empty string"):
        MutableScope("")


def test_shared_key_is_one_decision():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = LayerChoice([nn.Identity(), nn.ReLU()], key="act")
            self.b = LayerChoice([nn.Identity(), nn.ReLU()], key="act")

        def forward(self, x):
            return self.b(self.a(x))

    model = Net()
    space = SearchSpace.from_model(model)
    assert space.keys == ["act"] and space.size == 2
    space.apply(model, {"act": "1"})
    assert model.a.chosen == model.b.chosen == ["1"]


def test_shared_key_mismatch_names_both_modules():
    model = nn.Module()
    model.first = LayerChoice([nn.Identity(), nn.ReLU()], key="k")
    model.second = LayerChoice([nn.Identity(), nn.ReLU(), nn.Tanh()], key="k")
    with pytest.raises(ValueError, match=r"'first'.*'second'"):
        SearchSpace.from_model(model)
    other = nn.Module()
    other.first = LayerChoice([nn.Identity(), nn.ReLU()], key="k")
    other.second = InputChoice(n_candidates=2, key="k")
    with pytest.raises(ValueError, match="sharing key 'k'"):
        SearchSpace.from_model(other)


def test_modules_move_and_serialize_like_torch_containers():
    model = nn.Sequential(Block())
    state = model.state_dict()
    clone = nn.Sequential(Block())
    clone.load_state_dict(state)
    assert set(state) == set(clone.state_dict())
    model.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())


KEYS_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch.nn as nn
    from raynas import LayerChoice, InputChoice, SearchSpace
    import raynas.spaces
    if sys.argv[1] == "noise":
        # build unrelated models and mutables first: keys must not depend on them
        for _ in range(3):
            raynas.spaces.get("mnist")()
            LayerChoice([nn.Identity()]); InputChoice(n_candidates=4)
    model = raynas.spaces.get("nasbench201")()
    mnist = raynas.spaces.get("mnist")()
    print(json.dumps([SearchSpace.from_model(model).keys, SearchSpace.from_model(mnist).keys]))
""")


@pytest.mark.slow  # fresh Python processes importing torch
def test_automatic_keys_identical_across_processes():
    outputs = []
    for mode in ("noise", "clean"):
        result = subprocess.run([sys.executable, "-c", KEYS_SCRIPT, mode], capture_output=True,
                                text=True, check=True)
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0][1] == ["conv1", "skipcon"]
