"""Supernet training on a real 2-worker Ray Train TorchTrainer (DDP over gloo) on the digits
data: same paths on every worker, checkpoints, resume, NaN handling."""

import shutil

import pytest
import torch

from raynas.oneshot import SupernetDiverged, latest_checkpoint, load_state, sample_path
from raynas.oneshot.supernet import checkpoints, read_meta
from raynas.oneshot.train_supernet import path_digest, train_supernet

pytestmark = pytest.mark.slow  # each TorchTrainer start takes several seconds

SETTINGS = dict(batch_size=32, lr=0.05, num_workers=2, seed=0, checkpoint_every_s=0)


@pytest.fixture(scope="module")
def two_epochs(ray_local, tiny_cls, digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "supernet"
    return folder, train_supernet(tiny_cls, digits, folder, epochs=2, **SETTINGS)


def test_two_workers_train_the_same_sampled_paths(two_epochs, tiny_cls, tiny_space, digits):
    folder, result = two_epochs
    steps = 2 * (len(digits.train_y) // (32 * 2))
    assert result.epochs == 2 and result.steps == steps == 16
    assert len(checkpoints(folder)) == 2  # one per epoch, under the folder given
    assert result.checkpoint.is_relative_to(folder) and result.checkpoint == latest_checkpoint(folder)
    meta = read_meta(result.checkpoint)
    # the workers compared their digests each epoch; rank 0's is the driver's own draw
    assert meta["path_digest"] == path_digest([sample_path(tiny_space, 0, s) for s in range(steps)])
    trained = result.state_dict()
    torch.manual_seed(0)
    initial = tiny_cls().state_dict()
    assert not torch.equal(trained["stem.0.weight"], initial["stem.0.weight"])
    assert torch.isfinite(torch.tensor(result.loss))


def test_resume_continues_from_the_last_checkpoint_and_matches_an_uninterrupted_run(
        two_epochs, tiny_cls, digits, tmp_path):
    folder, straight = two_epochs
    # a training killed after its first checkpoint: the folder holds epoch 1 only
    resumed_folder = tmp_path / "resumed" / "supernet"
    shutil.copytree(folder, resumed_folder)
    shutil.rmtree(latest_checkpoint(resumed_folder))
    assert read_meta(latest_checkpoint(resumed_folder))["epoch"] == 1
    resumed = train_supernet(tiny_cls, digits, resumed_folder, epochs=2, **SETTINGS)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs == 2 and resumed.steps == 16
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a, b = resumed.state_dict(), straight.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    again = train_supernet(tiny_cls, digits, resumed_folder, epochs=2, **SETTINGS)
    assert again.checkpoint == resumed.checkpoint and again.seconds == 0.0  # nothing left to do


def test_checkpoints_are_spaced_in_time_and_the_last_epoch_always_gets_one(
        two_epochs, tiny_cls, digits, tmp_path):
    _, every_epoch = two_epochs
    folder = tmp_path / "supernet"
    settings = {**SETTINGS, "checkpoint_every_s": 3600}
    spaced = train_supernet(tiny_cls, digits, folder, epochs=2, **settings)
    assert [read_meta(p)["epoch"] for p in checkpoints(folder)] == [2]  # epoch 1: too soon
    assert spaced.epochs == 2 and [h["epoch"] for h in spaced.history] == [1, 2]
    a, b = spaced.state_dict(), every_epoch.state_dict()
    for key in a:  # checkpointing does not change the training
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_nan_loss_stops_and_names_the_kept_checkpoint(ray_local, poisoned_cls, digits,
                                                     tmp_path):
    folder = tmp_path / "supernet"
    # NaN from the 13th training forward on: epoch 2 (8 steps an epoch), step 13
    with pytest.raises(SupernetDiverged, match=r"loss is nan at epoch 2, step 13") as caught:
        train_supernet(poisoned_cls(12), digits, folder, epochs=3, **SETTINGS)
    kept = caught.value.checkpoint
    assert kept is not None and str(kept) in str(caught.value)
    assert [str(p) for p in checkpoints(folder)] == [kept]
    assert read_meta(kept)["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in load_state(kept)["model"].values()
               if v.is_floating_point())


def test_bad_settings_fail_before_any_worker_starts(tiny_cls, digits, tmp_path):
    with pytest.raises(ValueError, match="smaller than one global batch"):
        train_supernet(tiny_cls, digits, tmp_path / "s", epochs=1, batch_size=400, num_workers=2)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_supernet(tiny_cls, digits, tmp_path / "s", epochs=1, optimizer="lion")
    with pytest.raises(ValueError, match="checkpoint_every_s must be >= 0"):
        train_supernet(tiny_cls, digits, tmp_path / "s", epochs=1, checkpoint_every_s=-1)
