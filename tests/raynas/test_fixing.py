"""fix(): a plain module, the hand-written parameter count, outputs equal to the supernet's."""

import json
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

from raynas import (InputChoice, LayerChoice, MutableScope, SearchSpace, count_parameters,
                    export_architecture, fix, load_architecture)
from raynas.core.mutables import Mutable


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = LayerChoice(OrderedDict([("c3", nn.Conv2d(1, 4, 3, padding=1)),
                                             ("c5", nn.Conv2d(1, 4, 5, padding=2))]))
        self.pick = InputChoice(choose_from=["conv", "raw"], n_chosen=None, reduction="sum")
        self.masked = LayerChoice([nn.Identity(), nn.ReLU()], return_mask=True)
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        y = self.conv(x)
        z = self.pick({"conv": y, "raw": x.expand_as(y)})
        if z is None:
            z = torch.zeros_like(y)
        z, mask = self.masked(z)
        assert mask.dtype == torch.bool
        return self.head(z.flatten(1))


def test_fixed_model_is_plain_and_matches_supernet_output():
    torch.manual_seed(0)
    model = Net().eval()
    space = SearchSpace.from_model(model)
    x = torch.randn(2, 1, 6, 6)
    for genome in space.genomes():
        fixed = fix(model, genome).eval()
        assert not any(isinstance(m, Mutable) for m in fixed.modules())
        space.apply(model, genome)
        assert torch.allclose(fixed(x), model(x), atol=1e-6), genome


def test_parameter_count_equals_hand_written_model():
    model = Net()
    fixed = fix(model, {"conv": "c5", "pick": ["conv"], "masked": "1"})
    hand = nn.ModuleList([nn.Conv2d(1, 4, 5, padding=2), nn.Linear(4 * 6 * 6, 3)])
    assert count_parameters(fixed) == count_parameters(hand)
    assert count_parameters(model, {"conv": "c5", "pick": [], "masked": "0"}) == count_parameters(hand)
    assert count_parameters(model) > count_parameters(hand)


def test_fix_leaves_the_supernet_intact():
    model = Net()
    before = count_parameters(model)
    fix(model, {"conv": "c3", "pick": [], "masked": "0"})
    assert count_parameters(model) == before
    assert isinstance(model.conv, LayerChoice)


@pytest.mark.parametrize("genome,pattern", [
    ({"conv": "c7", "pick": [], "masked": "0"}, r"'conv'.*'c7'.*c3"),
    ({"conv": "c3", "pick": [], "masked": "0", "nope": 1}, r"unknown key.*'nope'"),
    ({"conv": "c3", "pick": []}, r"misses.*'masked'"),
    ({"conv": "c3", "pick": [], "masked": 2}, r"'masked'.*out of range"),
])
def test_bad_genomes_are_clear_errors(genome, pattern):
    with pytest.raises(ValueError, match=pattern):
        fix(Net(), genome)


def test_export_and_load_round_trip(tmp_path):
    model = Net()
    genome = SearchSpace.from_model(model).sample(1)
    path = export_architecture(genome, tmp_path / "arch.json")
    assert load_architecture(path) == genome
    assert count_parameters(fix(model, load_architecture(path))) == count_parameters(model, genome)


def test_nni_v1_exports_load(tmp_path):
    model = Net()
    for nni_form in ({"conv": [False, True], "pick": [True, True], "masked": [True, False]},
                     {"conv": 1, "pick": [0, 1], "masked": 0},
                     {"conv": "c5", "pick": ["conv", "raw"], "masked": "0"}):
        path = tmp_path / "nni.json"
        path.write_text(json.dumps(nni_form))
        fixed = fix(model, load_architecture(path))
        assert fixed.conv.kernel_size == (5, 5)
        assert fixed.pick.chosen == [0, 1]


def test_load_architecture_rejects_non_objects(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_architecture(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_architecture(bad)


def test_nested_mutables_fix_deepest_first():
    class Inner(MutableScope):
        def __init__(self):
            super().__init__("inner")
            self.act = LayerChoice([nn.Identity(), nn.ReLU()])

        def forward(self, x):
            return self.act(x)

    model = nn.Sequential(LayerChoice([Inner(), nn.Tanh()]))
    space = SearchSpace.from_model(model)
    assert space.keys == ["0", "inner/act"]
    fixed = fix(model, {"0": "0", "inner/act": "1"})
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.equal(fixed(x), torch.relu(x))


def test_seed_literal_five_by_five_fails_cleanly():
    import importlib.util, pathlib
    path = pathlib.Path(__file__).parents[1] / "fixtures" / "seed_net.py"
    spec = importlib.util.spec_from_file_location("seed_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.SeedNet()
    fixed = fix(model, {"conv1": "1", "skipcon": []})
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        fixed(torch.randn(2, 1, 28, 28))
    ok = fix(model, {"conv1": "0", "skipcon": ["0"]})
    assert ok(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_count_flops_counts_a_multiply_add_as_two():
    from raynas import count_flops

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    assert count_flops(model, (1, 8, 8)) == 2 * 64 * 10
    assert model.training  # the mode is restored


def test_screen_rejects_genomes_over_the_budgets():
    from raynas.run.plan import make_screen

    factory = lambda: nn.Sequential(LayerChoice([nn.Linear(64, 10),  # noqa: E731
                                                 nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 10))]))
    flat = lambda: nn.Sequential(nn.Flatten(), factory())  # noqa: E731
    assert make_screen(flat, (1, 8, 8), None, None) is None
    by_params = make_screen(flat, (1, 8, 8), max_params=1000, max_flops=None)
    assert by_params({"1.0": "0"}) is None
    reason, params = by_params({"1.0": "1"})
    assert "--max-params 1000" in reason and params == 64 * 64 + 64 + 650
    by_flops = make_screen(flat, (1, 8, 8), max_params=None, max_flops=2000)
    assert by_flops({"1.0": "0"}) is None
    assert "--max-flops 2000" in by_flops({"1.0": "1"})[0]


def test_a_choice_registered_twice_is_fixed_everywhere():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            shared = LayerChoice([nn.Linear(2, 2), nn.Identity()])
            self.a = shared
            self.b = shared

        def forward(self, x):
            return self.b(self.a(x))

    model = Twice()
    assert SearchSpace.from_model(model).keys == ["a"]
    fixed = fix(model, {"a": "1"})
    assert not any(isinstance(m, Mutable) for m in fixed.modules())
    x = torch.randn(3, 2)
    assert torch.equal(fixed(x), x)
    assert count_parameters(fixed) == count_parameters(model, {"a": "1"}) == 0
    fixed = fix(model, {"a": "0"})
    assert fixed.a is fixed.b and count_parameters(fixed) == 6


def test_nni_v1_global_keys_inside_scopes_load():
    class Node(MutableScope):
        def __init__(self, name):
            super().__init__(name)
            self.op = LayerChoice([nn.Identity(), nn.ReLU()], key=f"{name}_op")

        def forward(self, x):
            return self.op(x)

    model = nn.Sequential(Node("n0"), Node("n1"))
    space = SearchSpace.from_model(model)
    assert space.keys == ["n0/n0_op", "n1/n1_op"]
    # an NNI v1 export names the explicit keys without the scope
    assert space.validate({"n0_op": [False, True], "n1_op": 0}) == {"n0/n0_op": "1", "n1/n1_op": "0"}
    fixed = fix(model, {"n0_op": "1", "n1_op": "1"})
    assert isinstance(fixed[0].op, nn.ReLU) and isinstance(fixed[1].op, nn.ReLU)
