"""Value choices and Repeat: spaces built from a class, canonical genomes, fixing, errors."""

import importlib.util
import json
import pathlib
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from raynas import (Dimension, LayerChoice, Repeat, SearchSpace, ValueChoice, count_flops,
                    count_parameters, export_architecture, fix, load_architecture)
from raynas.results.store import make_row


def _load_fixture(name):
    path = pathlib.Path(__file__).parents[1] / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ValueNet = _load_fixture("value_net").ValueNet


# ------------------------------------------------------------------ a hand-written twin
class HandBlock(nn.Module):
    def __init__(self, channels, kernel):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)

    def forward(self, x):
        return x + F.relu(self.op(x))


class HandNet(nn.Module):
    """ValueNet written out for one architecture, without raynas."""

    def __init__(self, width, stem_kernel, act, kernels):
        super().__init__()
        self.stem = nn.Conv2d(1, width, stem_kernel, stride=2, padding=stem_kernel // 2)
        self.act = F.relu if act == "relu" else F.gelu
        self.blocks = nn.Sequential(*[HandBlock(width, k) for k in kernels])
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.act(self.stem(x))).mean((2, 3)))


def hand_written(genome):
    kernels = [3 if genome[f"blocks.{i}.op"] == "conv3" else 5 for i in range(genome["blocks"])]
    return HandNet(genome["width"], genome["stem_kernel"], genome["act"], kernels)


@pytest.fixture(scope="module")
def space():
    return SearchSpace.from_model(ValueNet)


# ------------------------------------------------------------------ the space
def test_space_from_class_records_values_repeat_and_conditions(space):
    assert space.keys == ["width", "stem_kernel", "act", "blocks", "blocks.0.op", "blocks.1.op",
                          "blocks.2.op"]
    assert [d.kind for d in space] == ["value"] * 4 + ["layer"] * 3
    assert space["width"].choices == (8, 16, 24) and space["act"].choices == ("relu", "gelu")
    assert space["blocks"].choices == (1, 2, 3)
    assert space["blocks.0.op"].when == ()  # every depth builds block 0
    assert space["blocks.1.op"].when == ((("blocks", 2),),)
    assert space["blocks.2.op"].when == ((("blocks", 3),),)
    # distinct models: 3 widths x 2 kernels x 2 activations x (2 + 4 + 8) block choices
    assert space.size == 3 * 2 * 2 * (2 + 4 + 8)
    genomes = list(space.genomes())
    assert len(genomes) == space.size
    assert len({SearchSpace.genome_id(g) for g in genomes}) == space.size
    assert all(space.validate(g) == g for g in genomes[:: 7])


def test_json_round_trip_keeps_values_and_conditions(space):
    text = space.to_json()
    again = SearchSpace.from_json(text)
    assert again == space and hash(again) == hash(space) and again.size == space.size
    data = json.loads(text)
    dims = {d["key"]: d for d in data["dimensions"]}
    assert dims["width"]["choices"] == [8, 16, 24] and dims["width"]["kind"] == "value"
    assert dims["blocks.2.op"]["when"] == [{"blocks": 3}]
    assert "when" not in dims["width"]
    floats = SearchSpace([Dimension("ratio", "value", (0.5, 0.75, 1.0))])
    assert SearchSpace.from_json(floats.to_json())["ratio"].choices == (0.5, 0.75, 1.0)


def test_instance_without_value_choices_reads_as_before():
    import raynas.spaces
    from raynas.spaces.mnist import MnistNet

    assert SearchSpace.from_model(MnistNet) == SearchSpace.from_model(MnistNet())
    assert SearchSpace.from_model(raynas.spaces.get("mnist")).size == 4
    genome = {"conv1": "1", "skipcon": []}
    assert count_parameters(fix(MnistNet, genome)) == count_parameters(MnistNet(), genome)


# ------------------------------------------------------------------ fixing
def test_fixed_model_equals_the_hand_written_one(space):
    x = torch.randn(3, 1, 28, 28)
    rng = np.random.default_rng(0)
    depths = set()
    for _ in range(12):
        genome = space.sample(rng)
        depths.add(genome["blocks"])
        fixed = fix(ValueNet, genome).eval()
        hand = hand_written(genome).eval()
        assert count_parameters(fixed) == count_parameters(hand)
        assert count_parameters(ValueNet, genome) == count_parameters(hand)
        assert not any(isinstance(m, (Repeat, LayerChoice)) for m in fixed.modules())
        hand.load_state_dict(fixed.state_dict())  # the same layers under the same names
        with torch.no_grad():
            out = fixed(x)
            assert out.shape == (3, 10)
            assert torch.allclose(out, hand(x), atol=1e-6)
        assert count_flops(fixed, (1, 28, 28)) == count_flops(hand, (1, 28, 28))
    assert depths == {1, 2, 3}


def test_fix_from_a_class_is_seeded_like_one_build(space):
    genome = space.sample(1)
    torch.manual_seed(5)
    first = fix(ValueNet, genome)
    torch.manual_seed(5)
    second = fix(ValueNet, genome)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------ canonical genomes
def test_left_out_block_decisions_make_one_genome(space):
    from raynas.strategies.encoding import Encoding

    base = {"width": 16, "stem_kernel": 3, "act": "relu", "blocks": 2,
            "blocks.0.op": "conv5", "blocks.1.op": "conv3"}
    a = space.validate({**base, "blocks.2.op": "conv3"})
    b = space.validate({**base, "blocks.2.op": "conv5"})
    assert a == b == space.validate(base)  # a left-out decision may be missing, too
    assert a["blocks.2.op"] == "conv3"  # the canonical value: the first candidate
    enc = Encoding(space)
    assert enc.encode({**base, "blocks.2.op": "conv5"}) == enc.encode(a)
    # the decisions of a block that is built stay
    deeper = space.validate({**base, "blocks": 3, "blocks.2.op": "conv5"})
    assert deeper["blocks.2.op"] == "conv5"
    samples = [space.sample(seed) for seed in range(200)]
    for genome in samples:
        if genome["blocks"] < 3:
            assert genome["blocks.2.op"] == "conv3"
        assert space.validate(genome) == genome
    assert space.sample(3) == space.sample(3)


def test_strategies_propose_canonical_distinct_genomes(space):
    import raynas.strategies

    for name in raynas.strategies.names():
        strategy = raynas.strategies.get(name)(space, seed=0)
        seen = set()
        for step in range(40):
            genome = strategy.ask()
            assert space.validate(genome) == genome
            seen.add(SearchSpace.genome_id(genome))
            strategy.tell(genome, genome["width"] / 24 + 0.01 * genome["blocks"])
        assert len(seen) == 40, name
        again = raynas.strategies.get(name)(space, seed=0)
        assert again.ask() == raynas.strategies.get(name)(space, seed=0).ask()


def test_numeric_value_mutation_prefers_neighbours():
    from raynas.strategies.encoding import NEIGHBOUR_PROBABILITY, Encoding

    space = SearchSpace([Dimension("width", "value", (64, 8, 32, 16, 128))])
    enc = Encoding(space)
    parent = np.array(enc.encode({"width": 32}))
    mutants = [enc.decode(c)["width"]
               for c in enc.mutate(np.random.default_rng(0), parent, 4000)]
    assert 32 not in mutants and set(mutants) == {8, 16, 64, 128}
    near = np.mean([m in (16, 64) for m in mutants])
    # neighbours: with NEIGHBOUR_PROBABILITY, plus their share of the uniform moves
    expected = NEIGHBOUR_PROBABILITY + (1 - NEIGHBOUR_PROBABILITY) / 2
    assert abs(near - expected) < 0.03
    assert abs(mutants.count(16) - mutants.count(64)) < 0.06 * len(mutants)  # either side
    # the smallest value has one neighbour: it takes it, or a uniform move
    edge = [enc.decode(c)["width"] for c in enc.mutate(np.random.default_rng(1),
                                                       np.array(enc.encode({"width": 8})), 4000)]
    share = NEIGHBOUR_PROBABILITY + (1 - NEIGHBOUR_PROBABILITY) / 4
    assert 8 not in edge and abs(edge.count(16) / len(edge) - share) < 0.03


def test_mutation_leaves_left_out_blocks_alone(space):
    from raynas.strategies.encoding import Encoding

    enc = Encoding(space)
    genome = space.validate({"width": 8, "stem_kernel": 3, "act": "relu", "blocks": 1,
                             "blocks.0.op": "conv3"})
    parent = np.array(enc.encode(genome))
    for code in enc.mutate(np.random.default_rng(0), parent, 200):
        mutant = enc.decode(code)
        assert mutant != genome and space.validate(mutant) == mutant
        changed = [k for k in space.keys if mutant[k] != genome[k]]
        assert len(changed) == 1 and changed[0] in ("width", "stem_kernel", "act", "blocks",
                                                    "blocks.0.op")


# ------------------------------------------------------------------ downstream forms
def test_architecture_files_and_result_rows_keep_values(space, tmp_path):
    genome = space.validate({"width": 24, "stem_kernel": 5, "act": "gelu", "blocks": 1,
                             "blocks.0.op": "conv5"})
    path = export_architecture(genome, tmp_path / "arch.json")
    loaded = load_architecture(path)
    assert space.validate(loaded) == genome and loaded["width"] == 24
    row = make_row(space.keys, genome, status="completed")
    assert row["arch.width"] == "24" and row["arch.act"] == "gelu" and row["arch.blocks"] == "1"
    assert json.loads(row["genome"]) == genome
    ratio = SearchSpace([Dimension("ratio", "value", (0.5, 1.0))])
    assert make_row(ratio.keys, {"ratio": 0.5}, status="completed")["arch.ratio"] == "0.5"


# ------------------------------------------------------------------ bad input
def test_errors_name_the_key_the_value_and_the_allowed_values(space):
    good = space.sample(0)
    with pytest.raises(ValueError, match=r"'width'.*got 12.*one of \[8, 16, 24\]"):
        space.validate({**good, "width": 12})
    with pytest.raises(ValueError, match=r"'act'.*got 'tanh'.*\['relu', 'gelu'\]"):
        fix(ValueNet, {**good, "act": "tanh"})
    with pytest.raises(ValueError, match=r"'width'.*got True"):
        space.validate({**good, "width": True})
    with pytest.raises(ValueError, match=r"'width'.*got 1\b"):  # never an index
        space.validate({**good, "width": 1})
    missing = {k: v for k, v in good.items() if k != "width"}
    with pytest.raises(ValueError, match=r"misses key\(s\) \['width'\].*one of \[8, 16, 24\]"):
        fix(ValueNet, missing)
    deep = {**good, "blocks": 3}
    del deep["blocks.2.op"]
    with pytest.raises(ValueError, match=r"misses key\(s\) \['blocks.2.op'\]"):
        space.validate(deep)
    assert space.validate({**good, "width": 16.0})["width"] == 16
    assert space.validate({**good, "width": np.int64(16)})["width"] == 16


def test_a_class_that_fails_to_build_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            width = ValueChoice([4, 8], key="w")
            self.fc = nn.Linear(width, "ten")

    with pytest.raises(ValueError, match=r"building the model failed: TypeError: .*\(in .*Broken\(\)\)"):
        SearchSpace.from_model(Broken)
    with pytest.raises(ValueError, match=r"building the model failed.*Broken"):
        fix(Broken, {"w": 4})
    with pytest.raises(ValueError, match=r"returned a int, not an nn.Module"):
        SearchSpace.from_model(lambda: 3)


def test_an_instance_with_value_choices_asks_for_the_class(space):
    model = ValueNet()  # built outside a build: first candidates, deepest Repeat
    for call in (lambda: SearchSpace.from_model(model), lambda: fix(model, space.sample(0)),
                 lambda: count_parameters(model, space.sample(0))):
        with pytest.raises(ValueError, match=r"ValueNet instance holds value choices "
                                             r"\(.*Repeat 'blocks'.*pass the class.*"
                                             r"SearchSpace.from_model\(ValueNet\)"):
            call()
    with torch.no_grad():  # the unbuilt model still runs, at its defaults
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_value_choice_misuse_is_a_clear_error():
    with pytest.raises(ValueError, match=r"ValueChoice needs a key.*key='width'"):
        ValueChoice([1, 2])
    with pytest.raises(ValueError, match=r"candidates must be unique"):
        ValueChoice([1, 1], key="x")
    with pytest.raises(ValueError, match=r"non-empty list"):
        ValueChoice([], key="x")
    with pytest.raises(ValueError, match=r"Repeat depth must be"):
        Repeat(lambda i: nn.ReLU(), [])

    class Disagree(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(ValueChoice([4, 8], key="w"), 2)
            self.b = nn.Linear(ValueChoice([4, 16], key="w"), 2)

    with pytest.raises(ValueError, match=r"'w' is used with candidates \[4, 8\] and \[4, 16\]"):
        SearchSpace.from_model(Disagree)

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(ValueChoice([4, 8], key="w"), 2)
            self.b = nn.Linear(2, ValueChoice([4, 8], key="w"))

    space = SearchSpace.from_model(Shared)
    assert space.keys == ["w"] and space.size == 2
    fixed = fix(Shared, {"w": 8})
    assert fixed.a.in_features == 8 and fixed.b.out_features == 8


def test_nested_repeats_and_scopes():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = Repeat(lambda i: LayerChoice([nn.Identity(), nn.ReLU()]), [1, 2],
                                 key=None)

        def forward(self, x):
            return self.layers(x)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.cells = Repeat(lambda i: Inner(), (0, 2), key="cells")

        def forward(self, x):
            return self.cells(x)

    space = SearchSpace.from_model(Outer)
    assert space["cells.1.layers.1"].when == ((("cells", 2), ("cells.1.layers", 2)),)
    assert space["cells.0.layers"].when == ((("cells", 1),),)
    # depth 0: one model; depth 1: 2 + 2*2; depth 2: (2 + 4) ** 2
    assert space.size == 1 + 6 + 36 == len(list(space.genomes()))
    for genome in space.genomes():
        fixed = fix(Outer, genome)
        assert fixed(torch.ones(1, 2)).shape == (1, 2)
        assert sum(isinstance(m, nn.ReLU) for m in fixed.modules()) == sum(
            genome[k] == "1" for k in space.keys if "layers." in k and space.is_active(k, genome))


def test_encoding_refuses_a_bool_for_a_number():
    from raynas.strategies.encoding import Encoding

    space = SearchSpace([Dimension("depth", "value", (1, 2, 3))])
    with pytest.raises(ValueError, match=r"'depth'.*got True"):
        Encoding(space).encode({"depth": True})
    assert Encoding(space).encode({"depth": 2.0}) == (1,)


def test_dimension_keeps_when_and_labels_together_in_json():
    from raynas.core.space import Dimension

    gated = Dimension("b.1.op", "input", ("x", "y"), when=((("b", 2),),), labels=("p", "q"))
    again = Dimension.from_dict(gated.to_dict())
    assert again == gated and hash(again) == hash(gated)
    assert again.when == gated.when and again.labels == ("p", "q")
    assert Dimension("b.1.op", "input", ("x", "y"), when=((("b", 2),),)) == gated  # labels: aid
    assert Dimension("b.1.op", "input", ("x", "y")) != gated  # when: identity
    assert again.normalize(["q"]) == ["y"]
