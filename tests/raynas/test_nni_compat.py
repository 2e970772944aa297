"""NNI v1 compatibility, checked on small models written here in the style of NNI v1.9's
example spaces (ENAS micro, TextNAS, SPOS, DARTS, ProxylessNAS) and on files in NNI's
export format. The expected behaviour follows NNI v1's documented semantics:
``nni.nas.pytorch.mutables`` (``InputChoice.NO_KEY``, automatic keys from one global
counter), ``Mutator.export`` (names when unique, else indices; one element unwrapped; ``[]``
for nothing chosen), ``_tensor_reduction`` and ``apply_fixed_architecture``.
"""

import copy
import json
import subprocess
import sys
import textwrap
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

from raynas import (InputChoice, LayerChoice, MutableScope, SearchSpace, count_parameters,
                    fix, load_architecture)
from raynas.core.fixing import FixedInputChoice, FixedLayerChoice
from raynas.core.flops import count_flops
from raynas.core.mutables import Mutable, reduce_tensors


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# --------------------------------------------------------------------------- ENAS micro
class EnasCell(nn.Module):
    """As NNI's ENAS micro ``Cell``: choose one previous node, then an operation."""

    def __init__(self, name, prev_labels, channels):
        super().__init__()
        self.input_choice = InputChoice(choose_from=prev_labels, n_chosen=1, return_mask=True,
                                        key=name + "_input")
        self.op_choice = LayerChoice([nn.Conv2d(channels, channels, 3, padding=1), nn.Identity()],
                                     key=name + "_op")

    def forward(self, prev_layers):
        chosen, mask = self.input_choice(prev_layers)
        return self.op_choice(chosen), mask


class EnasNode(MutableScope):
    def __init__(self, node_name, prev_node_names, channels):
        super().__init__(node_name)
        self.cell_x = EnasCell(node_name + "_x", prev_node_names, channels)
        self.cell_y = EnasCell(node_name + "_y", prev_node_names, channels)

    def forward(self, prev_layers):
        out_x, mask_x = self.cell_x(prev_layers)
        out_y, mask_y = self.cell_y(prev_layers)
        return out_x + out_y, mask_x | mask_y


class EnasMicroLayer(nn.Module):
    """As NNI's ``ENASMicroLayer``: the two cell inputs have no source key (``NO_KEY``)."""

    def __init__(self, num_nodes=2, channels=3):
        super().__init__()
        self.nodes = nn.ModuleList()
        labels = [InputChoice.NO_KEY, InputChoice.NO_KEY]
        for i in range(num_nodes):
            labels.append(f"node_{i}")
            self.nodes.append(EnasNode(labels[-1], labels[:-1], channels))

    def forward(self, pprev, prev):
        outs = [pprev, prev]
        for node in self.nodes:
            out, _ = node(outs)
            outs.append(out)
        return outs[-1]


def test_enas_micro_no_key_choose_from_builds_fixes_and_loads_nni_indices(tmp_path):
    assert InputChoice.NO_KEY == ""
    torch.manual_seed(0)
    model = EnasMicroLayer().eval()
    space = SearchSpace.from_model(model)
    first = space["node_0/node_0_x_input"]
    assert first.choices == ("0", "1") and first.n_chosen == 1
    assert space["node_1/node_1_y_input"].choices == ("0", "1", "2")
    assert model.nodes[1].cell_x.input_choice.choose_from == ["", "", "node_0"]
    # NNI exports indices where choose_from labels repeat, one element unwrapped
    nni = {"node_0_x_input": 1, "node_0_x_op": 0, "node_0_y_input": 0, "node_0_y_op": 1,
           "node_1_x_input": 2, "node_1_x_op": [True, False], "node_1_y_input": [0],
           "node_1_y_op": 1}
    genome = load_architecture(_write(tmp_path, "enas.json", nni), space=model)
    assert genome["node_1/node_1_x_input"] == ["2"] and genome["node_1/node_1_x_op"] == "0"
    fixed = fix(model, genome).eval()
    assert not any(isinstance(m, Mutable) for m in fixed.modules())
    space.apply(model, genome)
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(fixed(a, b), model(a, b), atol=1e-6)


# --------------------------------------------------------------------------- TextNAS
class TextLayer(nn.Module):
    """As NNI's TextNAS ``Layer``: mutables without keys, ``n_candidates`` read in forward."""

    def __init__(self, prev_keys, hidden=4, choose_from_k=2):
        super().__init__()
        self.prec = InputChoice(choose_from=prev_keys[-choose_from_k:], n_chosen=1) if prev_keys else None
        self.op = LayerChoice([nn.Linear(hidden, hidden), nn.Tanh(), nn.Identity()])
        self.skipconnect = InputChoice(choose_from=prev_keys) if prev_keys else None

    def forward(self, last_layer, prev_layers):
        prec = last_layer if self.prec is None else self.prec(prev_layers[-self.prec.n_candidates:])
        out = self.op(prec)
        if self.skipconnect is not None:
            connection = self.skipconnect(prev_layers[-self.skipconnect.n_candidates:])
            if connection is not None:
                out = out + connection
        return out


class TextNet(nn.Module):
    def __init__(self, layers=3):
        super().__init__()
        labels = []
        self.layers = nn.ModuleList()
        for i in range(layers):
            self.layers.append(TextLayer(list(labels)))
            labels.append(f"layer_{i}")

    def forward(self, x):
        prev = []
        for layer in self.layers:
            x = layer(x, prev)
            prev.append(x)
        return x


# NNI's counter names for TextNet(3), in construction order:
# layer 0: LayerChoice1; layer 1: InputChoice2, LayerChoice3, InputChoice4;
# layer 2: InputChoice5, LayerChoice6, InputChoice7.
TEXTNAS_NNI_EXPORT = {"LayerChoice1": 0, "InputChoice2": "layer_0", "LayerChoice3": 1,
                      "InputChoice4": [], "InputChoice5": "layer_0", "LayerChoice6": [False, False, True],
                      "InputChoice7": ["layer_0", "layer_1"]}


def test_textnas_counter_names_load_and_fixed_input_choice_keeps_n_candidates(tmp_path):
    torch.manual_seed(0)
    model = TextNet().eval()
    space = SearchSpace.from_model(model)
    assert space.keys == ["layers.0.op", "layers.1.prec", "layers.1.op", "layers.1.skipconnect",
                          "layers.2.prec", "layers.2.op", "layers.2.skipconnect"]
    assert space.aliases["LayerChoice6"] == "layers.2.op"
    assert space.aliases["InputChoice7"] == "layers.2.skipconnect"
    path = _write(tmp_path, "final_arc.json", TEXTNAS_NNI_EXPORT)
    with pytest.raises(ValueError, match="unknown key"):
        SearchSpace([*space]).validate(load_architecture(path))  # without the model's names
    genome = load_architecture(path, space=space)
    assert genome == {"layers.0.op": "0", "layers.1.prec": ["layer_0"], "layers.1.op": "1",
                      "layers.1.skipconnect": [], "layers.2.prec": ["layer_0"],
                      "layers.2.op": "2", "layers.2.skipconnect": ["layer_0", "layer_1"]}
    fixed = fix(model, load_architecture(path)).eval()   # fix accepts the NNI keys itself
    prec = fixed.layers[2].prec
    assert isinstance(prec, FixedInputChoice)
    assert (prec.n_candidates, prec.n_chosen, prec.choose_from) == (2, 1, ["layer_0", "layer_1"])
    assert fixed.layers[2].skipconnect.n_chosen is None
    space.apply(model, genome)
    x = torch.randn(5, 4)
    assert torch.allclose(fixed(x), model(x), atol=1e-6)   # the forward reads n_candidates


def test_nni_name_and_key_both_given_is_a_clear_error():
    space = SearchSpace.from_model(TextNet())
    genome = dict(space.default())
    genome["LayerChoice1"] = 0
    with pytest.raises(ValueError, match=r"'layers.0.op' twice.*'LayerChoice1'"):
        space.validate(genome)


def test_counter_names_survive_the_space_json_round_trip():
    space = SearchSpace.from_model(TextNet())
    again = SearchSpace.from_json(space.to_json())
    assert again == space and again.aliases == space.aliases
    assert again.validate(TEXTNAS_NNI_EXPORT) == space.validate(TEXTNAS_NNI_EXPORT)


# --------------------------------------------------------------------------- SPOS
class ShuffleLike(nn.Module):
    """As NNI's SPOS ``ShuffleNetV2OneShot``: a FLOPs table keyed by ``choice_block.key``,
    built in ``__init__`` before any search space exists."""

    def __init__(self, blocks=3):
        super().__init__()
        self.features = nn.ModuleList()
        self._parsed_flops = {}
        for _ in range(blocks):
            choice_block = LayerChoice([nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 4)),
                                        nn.Identity(), nn.ReLU()])
            self._parsed_flops[choice_block.key] = [32, 96, 0, 0]
            self.features.append(choice_block)

    def forward(self, x):
        for block in self.features:
            x = block(x)
        return x


def test_spos_key_is_set_at_construction_and_keeps_its_nni_name():
    model = ShuffleLike()
    assert len(model._parsed_flops) == 3 and None not in model._parsed_flops
    blocks = list(model.features)
    orders = [int(b.nni_key[len("LayerChoice"):]) for b in blocks]
    assert [b.nni_key for b in blocks] == [f"LayerChoice{n}" for n in orders]
    assert orders == list(range(orders[0], orders[0] + 3))  # one counter, construction order
    assert list(model._parsed_flops) == [b.nni_key for b in blocks]
    space = SearchSpace.from_model(model)
    assert [b.key for b in blocks] == ["features.0", "features.1", "features.2"]  # bound: path keys
    assert [b.nni_key for b in blocks] == list(model._parsed_flops)  # the table's keys stay findable
    assert space.aliases == {"LayerChoice1": "features.0", "LayerChoice2": "features.1",
                             "LayerChoice3": "features.2"}
    explicit = LayerChoice([nn.Identity()], key="mine")
    assert explicit.key == explicit.nni_key == "mine"


SPOS_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from test_nni_compat import ShuffleLike
    from raynas import SearchSpace
    model = ShuffleLike()      # the first model of the process, as in an NNI script
    table = list(model._parsed_flops)
    space = SearchSpace.from_model(model)
    print(json.dumps([table, {k: space.aliases[k] for k in table}]))
""")


def test_in_a_fresh_process_keys_equal_nnis_counter_names(tmp_path):
    import pathlib

    here = str(pathlib.Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", SPOS_SCRIPT, here], capture_output=True,
                         text=True, check=True).stdout
    table, mapped = json.loads(out)
    assert table == ["LayerChoice1", "LayerChoice2", "LayerChoice3"]
    assert mapped == {"LayerChoice1": "features.0", "LayerChoice2": "features.1",
                      "LayerChoice3": "features.2"}


def test_spos_architecture_final_one_hot_file_loads(tmp_path):
    model = ShuffleLike()
    nni = {"LayerChoice1": [False, True, False, False], "LayerChoice2": [False, False, False, True],
           "LayerChoice3": [True, False, False, False]}
    fixed = fix(model, load_architecture(_write(tmp_path, "architecture_final.json", nni)))
    assert isinstance(fixed.features[1], nn.ReLU) and isinstance(fixed.features[2], nn.Linear)
    assert count_parameters(fixed) == (4 * 8 + 8) + (8 * 4 + 4) + (4 * 4 + 4)


# --------------------------------------------------------------------------- DARTS
class DartsNode(nn.Module):
    """As NNI's DARTS ``Node``: every edge's op is called, a dropped one gives ``None``."""

    def __init__(self, node_id, num_prev, channels):
        super().__init__()
        self.ops = nn.ModuleList()
        keys = []
        for i in range(num_prev):
            keys.append(f"{node_id}_p{i}")
            self.ops.append(LayerChoice(OrderedDict([
                ("maxpool", nn.MaxPool2d(3, 1, 1)),
                ("skipconnect", nn.Identity()),
                ("conv3x3", nn.Conv2d(channels, channels, 3, padding=1, bias=False)),
                ("conv5x5", nn.Conv2d(channels, channels, 5, padding=2, bias=False)),
            ]), key=keys[-1]))
        self.input_switch = InputChoice(choose_from=keys, n_chosen=2, key=f"{node_id}_switch")

    def forward(self, prev_nodes):
        out = [op(node) for op, node in zip(self.ops, prev_nodes)]
        out = [o * 1.0 if o is not None else None for o in out]
        return self.input_switch(out)


class DartsCell(nn.Module):
    def __init__(self, channels=4, nodes=2):
        super().__init__()
        self.preproc0 = nn.Conv2d(channels, channels, 1, bias=False)
        self.preproc1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.mutable_ops = nn.ModuleList(DartsNode(f"normal_n{d}", d, channels)
                                         for d in range(2, nodes + 2))
        self.head = nn.Linear(channels * nodes, 3)

    def forward(self, x):
        tensors = [self.preproc0(x), self.preproc1(x)]
        for node in self.mutable_ops:
            tensors.append(node(tensors))
        return self.head(torch.cat(tensors[2:], 1).mean((2, 3)))


# NNI's DARTS export: the LayerChoice of an edge the switch drops is [].
DARTS_EXPORT = {"normal_n2_p0": "conv3x3", "normal_n2_p1": "maxpool",
                "normal_n2_switch": ["normal_n2_p0", "normal_n2_p1"],
                "normal_n3_p0": [], "normal_n3_p1": "conv5x5", "normal_n3_p2": "skipconnect",
                "normal_n3_switch": ["normal_n3_p1", "normal_n3_p2"]}


def test_darts_export_with_empty_edges_loads_and_matches_the_retrain_model(tmp_path):
    torch.manual_seed(0)
    model = DartsCell().eval()
    space = SearchSpace.from_model(model)
    genome = load_architecture(_write(tmp_path, "darts.json", DARTS_EXPORT), space=space)
    assert genome["normal_n3_p0"] == []
    fixed = fix(model, genome).eval()
    # only the chosen operations are left: the hand-counted retrain model
    retrain = 2 * 4 * 4 + (4 * 4 * 9) + (4 * 4 * 25) + (4 * 2 * 3 + 3)
    assert count_parameters(fixed) == count_parameters(model, genome) == retrain
    dropped = fixed.mutable_ops[1].ops[0]
    assert isinstance(dropped, FixedLayerChoice) and not list(dropped.parameters())
    assert dropped(torch.randn(1, 4, 5, 5)) is None   # NNI: a dropped edge gives None
    x = torch.randn(2, 4, 5, 5)
    space.apply(model, genome)
    assert torch.allclose(fixed(x), model(x), atol=1e-6)
    assert count_flops(fixed, (4, 5, 5)) == count_flops(model, (4, 5, 5))
    # a strategy still proposes exactly one candidate per LayerChoice
    samples = [space.sample(seed) for seed in range(50)]
    assert all(isinstance(s["normal_n3_p0"], str) for s in samples)
    assert [] not in list(space["normal_n3_p0"].decisions())


def test_an_empty_layer_decision_for_a_used_edge_fails_in_forward_not_silently():
    model = DartsCell()
    genome = {**SearchSpace.from_model(model).validate(DARTS_EXPORT), "normal_n3_p1": []}
    fixed = fix(model, genome)
    with pytest.raises(ValueError, match=r"'normal_n3_switch' chose.*'normal_n3_p1'.*None"):
        fixed(torch.randn(1, 4, 5, 5))   # the switch picks an edge that holds no operation


# --------------------------------------------------------------------------- ProxylessNAS
class MobileBlock(nn.Module):
    """As NNI's ProxylessNAS block: a LayerChoice with ``return_mask=True``, no key."""

    def __init__(self, channels=4):
        super().__init__()
        self.mobile_inverted_conv = LayerChoice(
            [nn.Conv2d(channels, channels, k, padding=k // 2) for k in (1, 3, 5)] + [nn.Identity()],
            return_mask=True)
        self.shortcut = nn.Identity()

    def forward(self, x):
        out, mask = self.mobile_inverted_conv(x)
        return out + self.shortcut(x), mask


class ProxylessLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.first_conv = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = nn.ModuleList([MobileBlock(), MobileBlock()])
        self.classifier = LayerChoice([nn.Linear(4, 3), nn.Linear(4, 3, bias=False)])

    def forward(self, x):
        x = self.first_conv(x)
        for block in self.blocks:
            x, _ = block(x)
        return self.classifier(x.mean((2, 3)))


def _nni_fixed_by_hand(supernet, choice):
    """The module tree NNI's ``apply_fixed_architecture`` leaves: a ``return_mask``
    LayerChoice stays, holding only the chosen candidate under its own name; another
    LayerChoice is replaced by its candidate."""
    hand = nn.Module()
    hand.first_conv = copy.deepcopy(supernet.first_conv)
    hand.blocks = nn.ModuleList()
    for block, index in zip(supernet.blocks, choice[:2]):
        kept = nn.Module()
        kept.add_module(str(index), copy.deepcopy(block.mobile_inverted_conv[index]))
        new_block = nn.Module()
        new_block.mobile_inverted_conv = kept
        new_block.shortcut = nn.Identity()
        hand.blocks.append(new_block)
    hand.classifier = copy.deepcopy(supernet.classifier[choice[2]])
    return hand


def test_proxyless_fixed_parameter_names_match_nni_and_load_strictly_both_ways(tmp_path):
    torch.manual_seed(0)
    model = ProxylessLike()
    nni = {"LayerChoice1": 2, "LayerChoice2": [False, True, False, False], "LayerChoice3": 1}
    fixed = fix(model, load_architecture(_write(tmp_path, "proxyless.json", nni))).eval()
    hand = _nni_fixed_by_hand(model, (2, 1, 1))
    assert set(fixed.state_dict()) == set(hand.state_dict())
    assert "blocks.0.mobile_inverted_conv.2.weight" in fixed.state_dict()
    assert "classifier.weight" in fixed.state_dict() and "classifier.bias" not in fixed.state_dict()
    # NNI-trained weights into raynas's fixed model and back, strictly
    torch.manual_seed(1)
    trained = {k: torch.randn_like(v) for k, v in hand.state_dict().items()}
    fixed.load_state_dict(trained, strict=True)
    hand.load_state_dict(fixed.state_dict(), strict=True)
    out, mask = fixed.blocks[0](torch.randn(1, 4, 3, 3))
    assert mask.tolist() == [False, False, True, False]


# --------------------------------------------------------------------------- points 4 and 7
class SkipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.skipcon = InputChoice(n_candidates=1)

    def forward(self, x):
        y = self.conv(x)
        extra = self.skipcon([x])
        return y if extra is None else y + extra


def test_single_candidate_input_choice_accepts_nnis_empty_string_name(tmp_path):
    model = SkipNet()
    space = SearchSpace.from_model(model)
    assert space["skipcon"].choices == ("0",) and model.skipcon.choose_from == [""]
    for nni_value, expected in (("", ["0"]), ([""], ["0"]), ([], []), ([True], ["0"]), (0, ["0"])):
        path = _write(tmp_path, "skip.json", {"skipcon": nni_value})
        assert load_architecture(path, space=model) == {"skipcon": expected}
    assert fix(model, {"skipcon": ""}).skipcon.chosen == [0]
    with pytest.raises(ValueError, match=r"'skipcon'.*'x'.*valid"):
        space.validate({"skipcon": "x"})


def test_reductions_follow_nnis_tensor_reduction():
    a, b = torch.ones(2, 3), torch.full((2, 1), 2.0)
    assert reduce_tensors([], "none") == []
    assert reduce_tensors([], "sum") is None and reduce_tensors([], "concat") is None
    assert torch.equal(reduce_tensors([a, b], "sum"), torch.full((2, 3), 3.0))   # broadcasts
    assert torch.equal(reduce_tensors([a, b], "mean"), torch.full((2, 3), 1.5))
    assert reduce_tensors([a], "none") == [a]
    ic = InputChoice(n_candidates=2, reduction="none")
    ic.set_choice([])
    assert ic([a, b]) == []
    fixed = fix(nn.Sequential(InputChoice(n_candidates=2, reduction="mean")), {"0": [0, 1]})
    assert torch.equal(fixed([a, b]), torch.full((2, 3), 1.5))
    assert fix(nn.Sequential(InputChoice(n_candidates=2, reduction="none")), {"0": []})([a, b]) == []


# --------------------------------------------------------------------------- point 9
class CountingCopy(nn.Linear):
    copies = 0

    def __deepcopy__(self, memo):
        type(self).copies += 1
        clone = nn.Linear(self.in_features, self.out_features)
        clone.load_state_dict(self.state_dict())
        memo[id(self)] = clone
        return clone


def test_fix_copies_only_what_the_fixed_model_keeps():
    model = nn.Sequential(LayerChoice([CountingCopy(4, 4), nn.Linear(4, 4)]),
                          LayerChoice([nn.Identity(), nn.Sequential(CountingCopy(4, 4))]))
    CountingCopy.copies = 0
    fixed = fix(model, {"0": "1", "1": "0"})
    assert CountingCopy.copies == 0          # unchosen candidates are not copied
    fixed = fix(model, {"0": "0", "1": "0"})
    assert CountingCopy.copies == 1
    assert fixed[0] is not model[0][0] and torch.equal(fixed[0].weight, model[0][0].weight)
    assert isinstance(model[0], LayerChoice) and len(model[0]) == 2   # the supernet is intact


def test_a_run_recorded_before_nni_names_still_resumes():
    from raynas.run.plan import _same_space

    space = SearchSpace.from_model(TextNet())
    recorded = space.to_dict()
    assert "aliases" in recorded
    del recorded["aliases"]
    assert _same_space(space, recorded)
    assert not _same_space(space, SearchSpace.from_model(ShuffleLike()).to_dict())
    assert not _same_space(space, None)
