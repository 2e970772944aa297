"""Path sampling, path setting, the weight-sharing check, BatchNorm recalibration and the
checkpoint files: no Ray."""

from collections import Counter
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from raynas import SearchSpace, fix
from raynas.oneshot import (PathSetter, check_weight_sharing, evaluate_path, latest_checkpoint,
                            make_eval_data, recalibrate_batchnorm, sample_path)
from raynas.oneshot.supernet import WEIGHTS_FILE, checkpoints, save_checkpoint
from raynas.train.loop import evaluate


def test_sample_path_is_a_function_of_seed_and_step(tiny_space):
    first = [sample_path(tiny_space, 3, step) for step in range(50)]
    again = [sample_path(tiny_space, 3, step) for step in range(50)]
    other_seed = [sample_path(tiny_space, 4, step) for step in range(50)]
    assert first == again
    assert first != other_seed
    assert len({SearchSpace.genome_id(g) for g in first}) > 20  # steps differ from each other
    assert all(tiny_space.validate(g) == g for g in first)


def test_sample_path_is_uniform_and_respects_n_chosen(tiny_space):
    paths = [sample_path(tiny_space, 0, step) for step in range(7200)]
    # n_chosen=1: always one input; n_chosen=None: any subset, the empty one included
    assert all(len(p["pick"]) == 1 for p in paths)
    skip_sizes = Counter(len(p["skip"]) for p in paths)
    assert set(skip_sizes) == {0, 1, 2}
    genomes = Counter(SearchSpace.genome_id(p) for p in paths)
    assert len(genomes) == tiny_space.size == 72
    expected = len(paths) / 72  # 100 each; a uniform draw stays well inside +-45%
    assert all(0.55 * expected < n < 1.45 * expected for n in genomes.values()), genomes
    with pytest.raises(ValueError, match="non-negative"):
        sample_path(tiny_space, -1, 0)


def test_path_setter_runs_the_genome(tiny_space, tiny_cls):
    net = tiny_cls()
    setter = PathSetter(net, tiny_space)
    genome = {"op1": "2", "op2": "1", "skip": [], "pick": ["0"]}
    setter.apply(genome)
    assert net.op1.chosen == ["2"] and net.op2.chosen == ["1"]
    assert net.skip.chosen == [] and net.pick.chosen == ["0"]
    with pytest.raises(ValueError, match="'pick'"):
        setter.apply({**genome, "pick": ["0", "1"]})
    with pytest.raises(ValueError, match="differs"):
        PathSetter(net, SearchSpace([]))


def test_value_choices_are_refused_with_the_reason(tiny_space):
    width = SimpleNamespace(key="width", kind="value")
    fake = SimpleNamespace(dimensions=(*tiny_space.dimensions, width))
    with pytest.raises(ValueError, match=r"'width' \(value\).*weight sharing across widths"):
        check_weight_sharing(fake)
    with pytest.raises(ValueError, match="at least one LayerChoice"):
        check_weight_sharing(SearchSpace([]))
    check_weight_sharing(tiny_space)  # layer and input choices pass


def test_recalibration_is_the_cumulative_average_of_the_batches():
    bn = nn.BatchNorm2d(2, momentum=0.1)
    bn.running_mean.fill_(5.0)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(16, 2, 3, 3, generator=gen) * 2 + 1 for _ in range(3)]
    assert recalibrate_batchnorm(nn.Sequential(bn), batches) == 1
    expected = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected)
    assert bn.momentum == 0.1 and bn.num_batches_tracked.item() == 3


def test_inherited_accuracy_equals_the_fixed_model_after_the_same_recalibration(
        digits, tiny_space, trained_weights, tiny_cls):
    data = make_eval_data(digits, bn_batches=2, bn_batch_size=64)
    net = tiny_cls()
    net.load_state_dict(trained_weights)
    setter = PathSetter(net)
    accuracies = []
    for step in range(4):
        genome = sample_path(tiny_space, 9, step)
        accuracy, loss = evaluate_path(net, setter, genome, data)
        fixed = fix(net, genome)
        torch.manual_seed(0)
        recalibrate_batchnorm(fixed, data.bn_batches)
        direct = evaluate(fixed, data.valid_x, data.valid_y, mean=data.mean, std=data.std)
        assert accuracy == direct[0]
        assert loss == pytest.approx(direct[1], rel=1e-5)
        accuracies.append(accuracy)
    assert max(accuracies) > 0.3  # inherited weights classify well above chance (0.1)


def test_checkpoint_folders_latest_and_a_cut_one_skipped(tmp_path, tiny_cls):
    net = tiny_cls()
    assert latest_checkpoint(tmp_path) is None
    for step in (8, 16):
        save_checkpoint(tmp_path / f"checkpoint_{step}", net, None,
                        {"epoch": step // 8, "step": step, "loss": 1.0})
    cut = tmp_path / "checkpoint_cut"
    cut.mkdir()
    (cut / WEIGHTS_FILE).write_bytes(b"")  # weights without metadata: a kill mid-write
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint_8", "checkpoint_16"]
    assert latest_checkpoint(tmp_path).name == "checkpoint_16"


def test_a_real_value_choice_space_is_refused():
    import raynas.spaces

    space = SearchSpace.from_model(raynas.spaces.get("mobilenetv2"))
    assert {"value"} <= {d.kind for d in space.dimensions}
    with pytest.raises(ValueError, match=r"'width' \(value\).*weight sharing across widths"):
        check_weight_sharing(space)
