"""The per-trial training loop: accuracy on real digits, determinism, divergence, checks."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn as nn

from raynas.datasets.sources import DatasetBundle, load
from raynas.core.measure import check_forward
from raynas.train.loop import (TrainingDiverged, TrainResult, evaluate, limit_gpu_memory,
                               select_device, train_model)


@pytest.fixture
def one_thread():
    """One torch thread: on a small shared machine two threads stall when another job runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits8() -> DatasetBundle:
    return load("digits")  # native 1x8x8


@pytest.fixture(scope="module")
def digits28() -> DatasetBundle:
    return load("digits", input_shape=(1, 28, 28))


def small_net(num_classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, num_classes))


class NaNAfter(nn.Module):
    """A linear model whose output turns NaN from its ``after``-th training forward on."""

    def __init__(self, after: int):
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.after, self.calls = after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                out = out * float("nan")
        return out


# ------------------------------------------------------------------ the real mnist space


@pytest.mark.slow  # real training to 90% accuracy (tens of seconds)
def test_mnist_space_on_digits_reaches_090_validation_accuracy(digits28, one_thread):
    import raynas.spaces
    from raynas import SearchSpace, fix

    factory = raynas.spaces.get("mnist")
    space = SearchSpace.from_model(factory())
    genome = space.sample(0)
    torch.manual_seed(0)
    model = fix(factory(), genome)
    check_forward(model, factory.input_shape, factory.num_classes)
    seen = []
    result = train_model(model, digits28, epochs=2, device="cpu", seed=0,
                         on_epoch=lambda epoch, m: seen.append((epoch, m["accuracy"])))
    assert [e for e, _ in seen] == [1, 2]
    assert result.accuracy > 0.9, (genome, result.history)
    assert result.accuracy == seen[-1][1] and result.epochs == 2
    assert result.train_loss < result.history[0]["train_loss"] or result.train_loss < 0.5


# ------------------------------------------------------------------ train_model


def test_train_model_result_history_and_callback(digits8):
    torch.manual_seed(0)
    model = small_net()
    calls = []
    result = train_model(model, digits8, epochs=3, batch_size=64, lr=3e-3, device="cpu",
                         seed=1, on_epoch=lambda e, m: calls.append((e, m)))
    assert isinstance(result, TrainResult)
    assert [e for e, _ in calls] == [1, 2, 3] and len(result.history) == 3
    keys = {"epoch", "accuracy", "loss", "train_loss", "train_accuracy", "epoch_seconds",
            "train_seconds"}
    assert all(set(m) == keys for _, m in calls)
    assert result.accuracy == calls[-1][1]["accuracy"] and result.loss == calls[-1][1]["loss"]
    assert 0.0 <= result.accuracy <= 1.0 and result.accuracy > 0.8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.train_seconds >= result.history[-1]["train_seconds"] > 0
    assert result.samples_per_second > 0
    # the validation figures are what evaluate() reports for the trained model
    acc, loss = evaluate(model, digits8.valid_x, digits8.valid_y, mean=digits8.mean,
                         std=digits8.std)
    assert acc == pytest.approx(result.accuracy) and loss == pytest.approx(result.loss, rel=1e-5)
    assert model.training  # left in train mode, as train_model found it


def test_same_seed_same_training(digits8):
    def run(seed: int) -> list[float]:
        torch.manual_seed(0)
        model = nn.Sequential(small_net(), nn.Dropout(0.3))  # dropout uses the seeded RNG
        r = train_model(model, digits8, epochs=2, batch_size=128, device="cpu", seed=seed)
        return [h["train_loss"] for h in r.history] + [r.accuracy]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_nan_loss_raises_training_diverged_with_epoch_and_batch(digits8):
    with pytest.raises(TrainingDiverged) as e:
        train_model(NaNAfter(after=1), digits8, epochs=2, device="cpu")
    assert (e.value.epoch, e.value.batch) == (1, 1)
    assert "epoch 1, batch 1" in str(e.value) and "nan" in str(e.value)
    assert isinstance(e.value, FloatingPointError)

    # checked every 4 batches (as on a GPU), the first bad batch is still the one named
    n_batches = -(-len(digits8.train_y) // 64)
    with pytest.raises(TrainingDiverged, match="epoch 2, batch 7 "):
        train_model(NaNAfter(after=n_batches + 7), digits8, epochs=3, batch_size=64,
                    device="cpu", check_every=4)


def test_training_diverged_survives_pickling():
    err = pickle.loads(pickle.dumps(TrainingDiverged(2, 5, float("inf"), 0.1)))
    assert isinstance(err, TrainingDiverged)
    assert (err.epoch, err.batch, err.lr) == (2, 5, 0.1) and "inf" in str(err)


def test_zero_epochs_only_evaluates(digits8):
    torch.manual_seed(0)
    r = train_model(small_net(), digits8, epochs=0, device="cpu")
    assert r.epochs == 0 and r.history == [] and 0.0 <= r.accuracy <= 0.3


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, "epochs must be a non-negative integer"),
    ({"epochs": 1, "batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 1, "lr": 0.0}, "lr must be a positive number"),
])
def test_bad_settings_are_clear_errors(digits8, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_model(small_net(), digits8, device="cpu", **kwargs)


def test_step_cap_and_defaults(digits8):
    torch.manual_seed(0)
    r = train_model(small_net(), digits8, epochs=1, lr=0.05, device="cpu",
                    max_batches_per_epoch=3, batch_size=16)
    assert r.epochs == 1 and r.history[0]["train_accuracy"] <= 1.0
    assert r.samples_per_second > 0
    r = train_model(small_net(), digits8, epochs=1, batch_size=None, lr=None,
                    device="cpu", max_batches_per_epoch=2)  # None: the defaults
    assert r.epochs == 1


# ------------------------------------------------------------------ evaluate


def test_evaluate_counts_correct_predictions_and_restores_mode():
    class Oracle(nn.Module):  # predicts the class stored in the first pixel
        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0, 0, 0].round().long(), 10).float() * 10

    x = torch.zeros(10, 1, 2, 2, dtype=torch.uint8)
    y = torch.arange(10)
    x[:, 0, 0, 0] = y.to(torch.uint8)
    model = Oracle().train()
    acc, loss = evaluate(model, x.float(), y, batch_size=3)  # float input: no 1/255 scale
    assert acc == 1.0 and loss < 1e-3 and model.training
    acc, _ = evaluate(model, x.float(), torch.zeros(10, dtype=torch.long), batch_size=4)
    assert acc == pytest.approx(0.1)


# ------------------------------------------------------------------ check_forward


def test_check_forward_accepts_a_fitting_model():
    model = small_net().train()
    check_forward(model, (1, 8, 8), 10)
    assert model.training


def test_check_forward_names_a_wrong_output_shape():
    with pytest.raises(ValueError, match=r"output has shape \(2, 7\).*expected \(2, 10\)"):
        check_forward(small_net(num_classes=7), (1, 8, 8), 10)


def test_check_forward_wraps_the_forward_error():
    # the seed's literal 5x5 candidate: Conv2d(1, 32, 5, 3) on 28x28 gives maps fc1 cannot take
    model = nn.Sequential(nn.Conv2d(1, 32, 5, 3), nn.Flatten(), nn.Linear(9216, 10)).train()
    with pytest.raises(ValueError, match=r"forward pass fails on input of shape "
                                         r"\(2, 1, 28, 28\).*RuntimeError: .*mat1 and mat2") as e:
        check_forward(model, (1, 28, 28), 10)
    assert isinstance(e.value.__cause__, RuntimeError) and model.training


# ------------------------------------------------------------------ devices


def test_seed_torch_on_the_cpu_gives_torch_manual_seeds_stream():
    from raynas.train.loop import seed_torch

    torch.manual_seed(7)
    expected = torch.rand(5)
    torch.manual_seed(0)
    seed_torch(7, torch.device("cpu"))
    assert torch.equal(torch.rand(5), expected)
    seed_torch(8, torch.device("cpu"))
    assert not torch.equal(torch.rand(5), expected)


def test_select_device():
    assert select_device(prefer_gpu=False) == torch.device("cpu")
    assert select_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_limit_gpu_memory(monkeypatch):
    for bad in (0, 1.5, -0.25, True, "0.5"):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            limit_gpu_memory(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert limit_gpu_memory(0.25) is False
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda fraction, device=None: calls.append((fraction, device)))
    assert limit_gpu_memory(0.25) is True and calls == [(0.25, None)]
