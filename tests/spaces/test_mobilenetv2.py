"""The MobileNetV2-style space: readable keys, its size, and fixed models whose parameter
count and output match a count written out by hand from the paper's block."""

import numpy as np
import pytest
import torch

import raynas.spaces
from raynas import SearchSpace, count_parameters, fix
from raynas.spaces.mobilenetv2 import MobileNetV2Space, scaled


def block_params(cin, cout, expand, kernel):
    """Inverted residual (Sandler et al. 2018): 1x1 expand (none for ratio 1), depthwise
    kxk, 1x1 projection, each conv without bias and followed by a BatchNorm (2 per channel)."""
    hidden = cin * expand
    n = 0 if expand == 1 else cin * hidden + 2 * hidden
    return n + hidden * kernel * kernel + 2 * hidden + hidden * cout + 2 * cout


def hand_count(genome, in_channels=1, classes=10):
    w = genome["width"]
    c = scaled(16, w)
    n = in_channels * c * 9 + 2 * c  # stem
    for stage, base in enumerate([16, 24, 32, 64], 1):
        out = scaled(base, w)
        for i in range(genome[f"stage{stage}/depth"]):
            n += block_params(c if i == 0 else out, out, genome[f"stage{stage}/expand"],
                              genome[f"stage{stage}/kernel"])
        c = out
    head = scaled(256, w)
    return n + c * head + 2 * head + head * classes + classes


@pytest.fixture(scope="module")
def space():
    return SearchSpace.from_model(raynas.spaces.get("mobilenetv2"))


def test_keys_are_readable_and_size_counts_models(space):
    assert space.keys[:4] == ["width", "stage1/expand", "stage1/kernel", "stage1/depth"]
    assert space.keys[-1] == "stage4/depth" and len(space.keys) == 13
    assert space["width"].choices == (0.5, 0.75, 1.0)
    assert space["stage2/depth"].choices == (1, 2, 3)
    assert space.size == 3 * (3 * 3 * 2) * (3 * 3 * 3) ** 3  # no per-block decisions


@pytest.mark.parametrize("name,shape", [("mobilenetv2", (1, 28, 28)),
                                        ("mobilenetv2-cifar", (3, 32, 32))])
def test_fixed_models_match_the_hand_count(space, name, shape):
    factory = raynas.spaces.get(name)
    assert factory.input_shape == shape
    rng = np.random.default_rng(1)
    x = torch.randn(2, *shape)
    for _ in range(6):
        genome = space.sample(rng)
        fixed = fix(factory, genome).eval()
        assert count_parameters(fixed) == hand_count(genome, in_channels=shape[0])
        with torch.no_grad():
            assert fixed(x).shape == (2, 10)


def test_parameter_range(space):
    low = {k: space[k].choices[0] for k in space.keys}
    low.update({k: min(space[k].choices) for k in space.keys})
    high = {k: max(space[k].choices) for k in space.keys}
    smallest, largest = hand_count(low), hand_count(high)
    assert count_parameters(MobileNetV2Space, low) == smallest
    assert count_parameters(MobileNetV2Space, high) == largest
    assert 5_000 < smallest < largest < 400_000  # trains on a CPU
    print(f"mobilenetv2: size {space.size:,}, params {smallest:,} .. {largest:,}")
