"""Every registered space builds, samples, fixes and runs a forward pass with no NaN."""

import numpy as np
import pytest
import torch

import raynas.spaces
from raynas import SearchSpace, count_parameters, fix


@pytest.mark.parametrize("name", raynas.spaces.names())
def test_space_conforms(name):
    factory = raynas.spaces.get(name)
    space = SearchSpace.from_model(factory)  # a factory: value choices need it
    assert space.size >= 1 and space.keys
    assert SearchSpace.from_json(space.to_json()) == space
    has_values = any(d.kind == "value" for d in space)
    model = factory if has_values else factory()
    if not has_values:
        assert SearchSpace.from_model(model) == space
    rng = np.random.default_rng(0)
    channels, height, width = factory.input_shape
    x = torch.randn(2, channels, height, width)
    for _ in range(20):
        genome = space.sample(rng)
        assert space.validate(genome) == genome
        fixed = fix(model, genome).eval()
        assert count_parameters(fixed) == count_parameters(model, genome)
        with torch.no_grad():
            out = fixed(x)
        assert out.shape == (2, factory.num_classes)
        assert not torch.isnan(out).any()


def test_unknown_space_lists_known_names():
    with pytest.raises(KeyError, match="unknown space 'mnsit'; known: mnist"):
        raynas.spaces.get("mnsit")


def test_duplicate_space_name_is_an_error():
    with pytest.raises(ValueError, match="duplicate space name 'mnist'"):
        raynas.spaces.register_space("mnist", (1, 28, 28), 10)(lambda: None)


def test_every_registered_space_is_declared_builtin_with_its_metadata():
    """A space a built-in module registers is listed in BUILTIN (so `raynas list` and a fresh
    process's `get` find it without importing torch first), with the same shape and classes."""
    import importlib

    for module in {info.module for info in raynas.spaces.BUILTIN.values()}:
        importlib.import_module(module)
    registered = set(raynas.spaces._REGISTRY.names())
    assert registered <= set(raynas.spaces.BUILTIN), registered - set(raynas.spaces.BUILTIN)
    for name in registered:
        factory = raynas.spaces.get(name)
        declared = raynas.spaces.BUILTIN[name]
        assert tuple(factory.input_shape) == tuple(declared.input_shape), name
        assert factory.num_classes == declared.num_classes, name
