"""Datasets: the embedded digits and the file-backed loaders on small files written here."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from raynas import datasets
from raynas.datasets.sources import DatasetBundle, DatasetNotFound, check_fits, load


# ------------------------------------------------------------------ writers (official formats)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """An idx file: 0, 0, dtype code 0x08 (ubyte), ndim, big-endian dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 40, n_test: int = 12,
                compress: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(raw / name, arr, compress=compress)
    return arrays


def write_cifar10(root: Path, per_batch: int = 8, n_test: int = 10, seed: int = 0
                  ) -> dict[str, tuple[np.ndarray, list[int]]]:
    """CIFAR-10 python pickles: dicts with ``data`` (N x 3072 uint8) and ``labels``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        d = {"data": data, "labels": labels, "batch_label": f"batch {i}"}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
        batches[name] = (data, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch,
                     "num_vis": 3072}, f)
    return batches


@pytest.fixture(scope="module")
def digits28() -> DatasetBundle:
    return load("digits", input_shape=(1, 28, 28))


# ------------------------------------------------------------------ registry


def test_names_lists_the_datasets():
    assert {"digits", "mnist", "fashion_mnist", "cifar10"} <= set(datasets.names())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown dataset 'mnsit'; known: .*digits"):
        load("mnsit")


@pytest.mark.parametrize("bad", [(1, 28), (0, 28, 28), (1, 28, -1), "abc", (1.5, 28, 28)])
def test_bad_input_shape_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="input_shape must be three positive integers"):
        load("digits", input_shape=bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_limit_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load("digits", limit=bad)


# ------------------------------------------------------------------ digits


def test_digits_native_shapes_dtypes_and_split_sizes():
    b = load("digits")
    assert b.name == "digits" and b.input_shape == (1, 8, 8) and b.num_classes == 10
    assert b.sizes() == {"train": 1257, "valid": 270, "test": 270}  # 70/15/15 of 1797
    for x, y in [(b.train_x, b.train_y), (b.valid_x, b.valid_y), (b.test_x, b.test_y)]:
        assert x.dtype == torch.uint8 and x.shape[1:] == (1, 8, 8) and x.ndim == 4
        assert y.dtype == torch.int64 and len(y) == len(x)
        assert int(y.min()) >= 0 and int(y.max()) <= 9
    assert len(b.mean) == len(b.std) == 1 and 0 < b.mean[0] < 1 and b.std[0] > 0
    assert b.class_names == tuple(str(i) for i in range(10))


def test_digits_splits_are_a_stratified_partition_of_the_real_data():
    from sklearn.datasets import load_digits

    b = load("digits")
    source = np.round(load_digits().images / 16.0 * 255).astype(np.uint8).reshape(-1, 64)
    source_y = load_digits().target
    ours = torch.cat([b.train_x, b.valid_x, b.test_x]).reshape(-1, 64).numpy()
    ours_y = torch.cat([b.train_y, b.valid_y, b.test_y]).numpy()

    def rows(x: np.ndarray, y: np.ndarray) -> list[bytes]:
        return sorted(bytes([int(label)]) + img.tobytes() for img, label in zip(x, y))

    # every (image, label) of load_digits appears exactly once across the three splits
    assert rows(ours, ours_y) == rows(source, source_y)
    for y in (b.valid_y, b.test_y):
        counts = torch.bincount(y, minlength=10)
        assert int(counts.min()) >= 25 and int(counts.max()) <= 29  # ~27 per class: stratified


def test_digits_split_is_fixed_across_loads_and_shapes():
    a, b = load("digits"), load("digits")
    for name in ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    big = load("digits", input_shape=(1, 28, 28))
    assert torch.equal(big.valid_y, a.valid_y) and torch.equal(big.train_y, a.train_y)


def test_digits_resized_to_28x28_bilinear(digits28):
    b = digits28
    native = load("digits")
    assert b.input_shape == (1, 28, 28) and b.train_x.shape == (1257, 1, 28, 28)
    assert b.train_x.dtype == torch.uint8
    expected = F.interpolate(native.train_x[:5].float(), size=(28, 28), mode="bilinear",
                             align_corners=False)
    # resized from the 0..16 source, not from the rounded 8x8 uint8: within a rounding step
    assert (b.train_x[:5].float() - expected).abs().max() <= 16
    assert int(b.train_x.max()) == 255 and int(b.train_x.min()) == 0


def test_digits_repeated_over_channels_for_3x32x32():
    b = load("digits", input_shape=(3, 32, 32))
    assert b.input_shape == (3, 32, 32) and b.valid_x.shape == (270, 3, 32, 32)
    assert torch.equal(b.train_x[:, 0], b.train_x[:, 1])
    assert torch.equal(b.train_x[:, 0], b.train_x[:, 2])
    assert len(b.mean) == len(b.std) == 3
    one = load("digits", input_shape=(1, 32, 32))
    assert torch.equal(one.train_x[:, 0], b.train_x[:, 0])


def test_limit_caps_only_the_training_set():
    full, small = load("digits"), load("digits", limit=100)
    assert len(small.train_y) == 100 and small.train_x.shape[0] == 100
    assert torch.equal(small.train_x, full.train_x[:100])
    assert torch.equal(small.valid_y, full.valid_y) and torch.equal(small.test_y, full.test_y)
    assert len(load("digits", limit=10**6).train_y) == 1257


def test_normalize_gives_zero_mean_unit_std_on_train(digits28):
    z = digits28.normalize(digits28.train_x)
    assert z.dtype == torch.float32
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 1e-3
    f = digits28.normalize(digits28.train_x.float() / 255)  # float input is in [0, 1] units
    assert torch.allclose(f, z, atol=1e-5)


def test_bundle_is_picklable_and_small(digits28):
    back = pickle.loads(pickle.dumps(digits28))
    assert back.name == "digits" and back.input_shape == (1, 28, 28)
    assert torch.equal(back.train_x, digits28.train_x) and back.mean == digits28.mean
    assert digits28.nbytes() < 3_000_000  # uint8 at 28x28: about 1.4 MB


# ------------------------------------------------------------------ check_fits


def test_check_fits_accepts_a_matching_space(digits28):
    check_fits(digits28, (1, 28, 28), 10)
    check_fits(digits28, [1, 28, 28], 12)  # more outputs than classes is fine


def test_check_fits_names_a_channel_mismatch(digits28):
    with pytest.raises(ValueError) as e:
        check_fits(digits28, (3, 28, 28), 10)
    msg = str(e.value)
    assert "'digits'" in msg and "(1, 28, 28)" in msg and "(3, 28, 28)" in msg
    assert "1 channel(s) where the space expects 3" in msg


def test_check_fits_names_a_size_mismatch(digits28):
    with pytest.raises(ValueError, match=r"images of 28x28 where the space expects 32x32"):
        check_fits(digits28, (1, 32, 32), 10)


def test_check_fits_names_too_many_classes(digits28):
    with pytest.raises(ValueError, match=r"10 classes but the model outputs only 5"):
        check_fits(digits28, (1, 28, 28), 5)


# ------------------------------------------------------------------ MNIST / Fashion-MNIST


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_loader_reads_the_official_idx_files(tmp_path, compress):
    arrays = write_mnist(tmp_path, n_train=40, n_test=12, compress=compress)
    b = load("mnist", data_dir=tmp_path)
    assert b.name == "mnist" and b.input_shape == (1, 28, 28) and b.num_classes == 10
    assert b.sizes() == {"train": 36, "valid": 4, "test": 12}  # last 10% held out
    train_images = arrays["train-images-idx3-ubyte"]
    train_labels = arrays["train-labels-idx1-ubyte"]
    assert b.train_x.dtype == torch.uint8 and b.train_x.shape == (36, 1, 28, 28)
    assert np.array_equal(b.train_x[:, 0].numpy(), train_images[:36])
    assert np.array_equal(b.valid_x[:, 0].numpy(), train_images[36:])
    assert np.array_equal(b.valid_y.numpy(), train_labels[36:])
    assert np.array_equal(b.test_x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(b.test_y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert b.train_y.dtype == torch.int64
    assert abs(b.mean[0] - train_images[:36].mean() / 255) < 1e-6
    # the split is a fixed slice: loading again gives the same tensors
    again = load("mnist", data_dir=tmp_path, limit=10)
    assert torch.equal(again.train_x, b.train_x[:10]) and torch.equal(again.valid_y, b.valid_y)


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    arrays = write_mnist(tmp_path, folder="FashionMNIST", n_train=30, n_test=6, seed=1)
    b = load("fashion_mnist", data_dir=tmp_path)
    assert b.name == "fashion_mnist" and b.sizes() == {"train": 27, "valid": 3, "test": 6}
    assert np.array_equal(b.test_y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert b.class_names[0] == "T-shirt/top" and len(b.class_names) == 10
    with pytest.raises(DatasetNotFound):  # MNIST is a different folder
        load("mnist", data_dir=tmp_path)


def test_mnist_is_not_resized_a_mismatch_is_an_error(tmp_path):
    write_mnist(tmp_path)
    assert load("mnist", data_dir=tmp_path, input_shape=(1, 28, 28)).input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match=r"'mnist' .*\(1, 28, 28\).*\(3, 32, 32\)"):
        load("mnist", data_dir=tmp_path, input_shape=(3, 32, 32))


def _no_download(monkeypatch):
    import torchvision.datasets as tvd

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    for cls in ("MNIST", "FashionMNIST", "CIFAR10"):
        monkeypatch.setattr(tvd, cls, refuse)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST/raw"),
                                          ("fashion_mnist", "FashionMNIST/raw"),
                                          ("cifar10", "cifar-10-batches-py")])
def test_missing_files_give_a_clear_error_without_downloading(tmp_path, monkeypatch, name,
                                                               folder):
    _no_download(monkeypatch)
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFound) as e:
        load(name, data_dir=root)
    msg = str(e.value)
    assert f"dataset {name!r} not found" in msg and str(root / folder) in msg
    assert "download=True" in msg and "data_dir" in msg
    assert isinstance(e.value, FileNotFoundError)
    assert not root.exists()  # nothing written, nothing fetched


def test_partial_mnist_folder_names_the_missing_files(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFound, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\];"):
        load("mnist", data_dir=tmp_path)


def test_download_true_fetches_under_a_lock_then_reads(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    class MNIST(tvd.MNIST):  # torchvision's reader (its folder is named after the class);
        # its download writes the files, no network
        def download(self):
            calls.append((self.root, True))
            assert (Path(self.root) / ".raynas-data.lock").exists()  # held while downloading
            write_mnist(Path(self.root))  # extracted, as torchvision leaves them

    monkeypatch.setattr(tvd, "MNIST", MNIST)
    b = load("mnist", data_dir=tmp_path, download=True)
    assert calls == [(str(tmp_path), True)] and b.sizes()["test"] == 12
    load("mnist", data_dir=tmp_path, download=True)  # present now: no second download
    assert len(calls) == 1


# ------------------------------------------------------------------ CIFAR-10


def test_cifar10_loader_reads_the_python_pickles(tmp_path):
    batches = write_cifar10(tmp_path, per_batch=8, n_test=10)
    b = load("cifar10", data_dir=tmp_path, input_shape=(3, 32, 32))
    assert b.name == "cifar10" and b.input_shape == (3, 32, 32) and b.num_classes == 10
    assert b.sizes() == {"train": 36, "valid": 4, "test": 10}
    train = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert b.train_x.dtype == torch.uint8 and b.train_x.shape == (36, 3, 32, 32)
    # rows are 1024 red, 1024 green, 1024 blue values, each 32x32 row-major
    assert np.array_equal(b.train_x[0, 0].numpy().ravel(), train[0, :1024])
    assert np.array_equal(b.train_x[3, 2].numpy().ravel(), train[3, 2048:])
    assert np.array_equal(b.valid_x.reshape(4, -1).numpy(), train[36:])
    assert b.train_y.tolist() == labels[:36] and b.valid_y.tolist() == labels[36:]
    assert np.array_equal(b.test_x.reshape(10, -1).numpy(), batches["test_batch"][0])
    assert b.test_y.tolist() == batches["test_batch"][1]
    assert b.class_names[:2] == ("airplane", "automobile") and len(b.mean) == 3
    with pytest.raises(ValueError, match="does not fit"):
        load("cifar10", data_dir=tmp_path, input_shape=(1, 28, 28))


def test_cifar10_bundle_fits_nasbench201_but_not_mnist(tmp_path):
    write_cifar10(tmp_path)
    b = load("cifar10", data_dir=tmp_path)
    check_fits(b, (3, 32, 32), 10)
    with pytest.raises(ValueError, match="3 channel.*expects 1.*32x32 where the space expects "
                                         "28x28"):
        check_fits(b, (1, 28, 28), 10)
