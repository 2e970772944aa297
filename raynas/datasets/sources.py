"""Datasets by name, loaded once by the driver and shipped to trials in a ``DatasetBundle``.

``load("digits", input_shape=(1, 28, 28))`` -> a bundle of in-memory tensors with FIXED
train / validation / test splits, small enough to put in Ray's object store once
(``tune.with_parameters``) rather than re-read by every trial.

Registered datasets (``names()``):

- ``digits``: the embedded offline default, scikit-learn's ``load_digits`` (1,797 real 8x8
  handwritten digits, 10 classes), resized bilinearly to the requested H x W and repeated over
  channels when the space wants C > 1; a fixed stratified 70/15/15 split (seed 0).
- ``mnist``, ``fashion_mnist`` (1x28x28, 10 classes): the official idx files (optionally
  ``.gz``) under ``<data_dir>/MNIST/raw/`` and ``<data_dir>/FashionMNIST/raw/``.
- ``cifar10`` (3x32x32, 10 classes): the official python pickles under
  ``<data_dir>/cifar-10-batches-py/``.

For the three file-backed datasets the validation split is a fixed held-out slice (the last
10%, at most 5,000 images) of the official training set and the test split is the official
test set; ``download=True`` fetches missing files through torchvision (under a file lock in
``data_dir``, since several processes may prepare the same folder). They are not resized: a
space whose input differs is an error (:func:`check_fits`).

Images are stored as uint8 NCHW (0..255); ``mean``/``std`` are per channel in [0, 1] units,
computed on the training split, and applied on the fly (:meth:`DatasetBundle.normalize`).
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from raynas.core.registry import Registry

__all__ = ["DatasetBundle", "DatasetNotFound", "check_fits", "default_data_dir", "load",
           "names", "register_dataset"]

Shape = tuple[int, int, int]

#: Seed of the fixed digits split; changing it changes every run's data, so it is a constant.
SPLIT_SEED = 0
#: Fraction of an official training set held out for validation (at most ``MAX_VALID``).
VALID_FRACTION = 0.1
MAX_VALID = 5000
_LOCK_NAME = ".raynas-data.lock"


class DatasetNotFound(FileNotFoundError):
    """A file-backed dataset's files are absent and ``download`` was not asked for."""


@dataclass
class DatasetBundle:
    """One dataset in memory, with fixed splits. Picklable; images uint8 NCHW (or float in [0, 1]).

    ``mean``/``std`` are per channel, in [0, 1] units, for normalization on the fly.
    Labels are int64 in ``[0, num_classes)``.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    input_shape: Shape
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = field(default=())

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (uint8 0..255 or float 0..1, N C H W) as normalized float32 on ``x``'s device."""
        return normalize(x, self.mean, self.std)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_y), "valid": len(self.valid_y), "test": len(self.test_y)}

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (
            self.train_x, self.train_y, self.valid_x, self.valid_y, self.test_x, self.test_y))

    def __repr__(self) -> str:
        s = self.sizes()
        return (f"DatasetBundle({self.name!r}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes}, train={s['train']}, valid={s['valid']}, "
                f"test={s['test']}, dtype={self.train_x.dtype})")


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images are scaled by 1/255 first; then ``(x - mean) / std`` per channel."""
    scale, shift = normalization_constants(mean, std, x.dtype, x.device)
    return torch.addcmul(-shift, x.to(torch.float32), scale)


def normalization_constants(mean: Sequence[float], std: Sequence[float], dtype: torch.dtype,
                            device: torch.device | str = "cpu"
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` of shape (1, C, 1, 1) such that ``x * scale - shift`` normalizes ``x``."""
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    unit = 255.0 if dtype == torch.uint8 else 1.0
    scale = (1.0 / (unit * s)).to(torch.float32).view(1, -1, 1, 1).to(device)
    shift = (m / s).to(torch.float32).view(1, -1, 1, 1).to(device)
    return scale, shift


# ------------------------------------------------------------------ registry and public API

Loader = Callable[..., DatasetBundle]
_REGISTRY: Registry[Loader] = Registry("dataset")


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Register ``loader(data_dir: Path, input_shape: Shape | None, download: bool) -> bundle``."""
    return _REGISTRY.register(name)


def names() -> list[str]:
    """The registered dataset names."""
    return _REGISTRY.names()


def default_data_dir() -> Path:
    """``$RAYNAS_DATA_DIR`` if set, else ``~/.cache/raynas/data``."""
    env = os.environ.get("RAYNAS_DATA_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/raynas/data").expanduser()


def load(name: str, data_dir: str | os.PathLike[str] | None = None,
         input_shape: Sequence[int] | None = None, download: bool = False,
         limit: int | None = None) -> DatasetBundle:
    """Load dataset ``name`` with its fixed splits.

    ``input_shape`` (C, H, W): the shape the space wants; ``digits`` is resized/repeated to it,
    the file-backed datasets must already match it (else ``ValueError``, as :func:`check_fits`).
    ``download``: fetch missing files (never done unless asked). ``limit``: keep only the first
    ``limit`` training images (validation and test are unchanged), for quick runs.
    Raises ``KeyError`` for an unknown name and :class:`DatasetNotFound` for absent files.
    """
    loader = _REGISTRY.get(name)
    shape = _as_shape(input_shape, "input_shape") if input_shape is not None else None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    bundle = loader(data_dir=root, input_shape=shape, download=bool(download))
    if limit is not None and limit < len(bundle.train_y):
        bundle.train_x = bundle.train_x[:limit].clone()
        bundle.train_y = bundle.train_y[:limit].clone()
    return bundle


def check_fits(bundle: DatasetBundle, input_shape: Sequence[int], num_classes: int) -> None:
    """Raise ``ValueError`` unless ``bundle`` feeds a model taking ``input_shape``, ``num_classes``.

    Channels and H x W must be equal; the dataset may have fewer classes than the model outputs,
    not more.
    """
    want = _as_shape(input_shape, "input_shape")
    have = tuple(int(v) for v in bundle.input_shape)
    problems = []
    if have[0] != want[0]:
        problems.append(f"{have[0]} channel(s) where the space expects {want[0]}")
    if have[1:] != want[1:]:
        problems.append(f"images of {have[1]}x{have[2]} where the space expects "
                        f"{want[1]}x{want[2]}")
    if int(bundle.num_classes) > int(num_classes):
        problems.append(f"{bundle.num_classes} classes but the model outputs only {num_classes}")
    if problems:
        if have == want:
            hint = "use a space with at least as many outputs as the dataset has classes"
        elif bundle.name == "digits":
            hint = f"load 'digits' with input_shape={want} (it is resized to any shape)"
        else:
            hint = "use dataset 'digits' (resized to any shape) or a space made for this dataset"
        raise ValueError(
            f"dataset {bundle.name!r} (input_shape={have}, num_classes={bundle.num_classes}) "
            f"does not fit the space (input_shape={want}, num_classes={num_classes}): "
            f"{'; '.join(problems)}; {hint}")


# ------------------------------------------------------------------ helpers


def _as_shape(shape: Sequence[int], what: str) -> Shape:
    try:
        values = tuple(int(v) for v in shape)
        ok = len(values) == 3 and all(v > 0 for v in values) and all(
            not isinstance(v, bool) and float(v) == int(v) for v in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what} must be three positive integers (C, H, W), got {shape!r}")
    return values  # type: ignore[return-value]


def _channel_stats(x: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...],
                                                                 tuple[float, ...]]:
    """Per-channel mean and std of ``x`` (N C H W) in [0, 1] units, in float64 chunks."""
    unit = 255.0 if x.dtype == torch.uint8 else 1.0
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].to(torch.float64) / unit
        total += part.sum(dim=(0, 2, 3))
        total_sq += (part * part).sum(dim=(0, 2, 3))
        count += part.numel() // c
    if count == 0:
        return (0.0,) * c, (1.0,) * c
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    std = var.sqrt().clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _bundle(name: str, train: tuple[torch.Tensor, torch.Tensor],
            valid: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
            num_classes: int, class_names: Sequence[str]) -> DatasetBundle:
    mean, std = _channel_stats(train[0])
    return DatasetBundle(
        name=name, train_x=train[0].contiguous(), train_y=train[1].to(torch.int64),
        valid_x=valid[0].contiguous(), valid_y=valid[1].to(torch.int64),
        test_x=test[0].contiguous(), test_y=test[1].to(torch.int64),
        input_shape=tuple(int(v) for v in train[0].shape[1:]),  # type: ignore[arg-type]
        num_classes=int(num_classes), mean=mean, std=std, class_names=tuple(class_names))


def _holdout(x: torch.Tensor, y: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                         tuple[torch.Tensor, torch.Tensor]]:
    """Split an official training set: the last 10% (at most 5,000) is the validation set."""
    n = len(y)
    n_valid = min(MAX_VALID, max(1, round(VALID_FRACTION * n))) if n > 1 else 0
    cut = n - n_valid
    # clone: each split owns its storage, so a pickled split does not carry the whole set
    return (x[:cut].clone(), y[:cut].clone()), (x[cut:].clone(), y[cut:].clone())


def _check_native_shape(name: str, native: Shape, input_shape: Shape | None,
                        num_classes: int) -> None:
    if input_shape is not None and tuple(input_shape) != native:
        raise ValueError(
            f"dataset {name!r} (input_shape={native}, num_classes={num_classes}) does not fit "
            f"the space (input_shape={tuple(input_shape)}): {name!r} is not resized; use "
            f"dataset 'digits' (resized to any shape) or a space whose input is {native}")


def _lock(root: Path):
    import filelock

    root.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(root / _LOCK_NAME))


def _missing(name: str, folder: Path, missing: Sequence[str]) -> DatasetNotFound:
    return DatasetNotFound(
        f"dataset {name!r} not found: {folder} lacks {', '.join(missing)}; pass download=True "
        f"(raynas: --download) to fetch it there, or point data_dir (raynas: --data-dir) at a "
        f"folder that holds it")


# ------------------------------------------------------------------ digits (embedded)


@register_dataset("digits")
def _load_digits(data_dir: Path, input_shape: Shape | None, download: bool) -> DatasetBundle:
    """scikit-learn's 8x8 digits, resized to ``input_shape``; stratified 70/15/15, seed 0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # N 1 8 8
    labels = torch.from_numpy(digits.target.astype(np.int64))
    c, h, w = input_shape if input_shape is not None else (1, 8, 8)
    if (h, w) != (8, 8):
        images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False,
                               antialias=h < 8 or w < 8)
    images = images.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    if c != 1:
        images = images.repeat(1, c, 1, 1)

    index = np.arange(len(labels))
    train_idx, rest_idx = train_test_split(index, test_size=0.30, random_state=SPLIT_SEED,
                                           stratify=digits.target)
    valid_idx, test_idx = train_test_split(rest_idx, test_size=0.50, random_state=SPLIT_SEED,
                                           stratify=digits.target[rest_idx])

    def part(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.from_numpy(idx)
        return images[t], labels[t]

    return _bundle("digits", part(train_idx), part(valid_idx), part(test_idx), 10,
                   [str(i) for i in range(10)])


# ------------------------------------------------------------------ MNIST / Fashion-MNIST

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_MNIST_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
                "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format; ``.gz`` compressed or not) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {data[:4]!r})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: idx header says {dims} ({expected} bytes) but the file holds "
                         f"{len(data) - offset} bytes of data")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims).astype(
        dtype.newbyteorder("=") if dtype.itemsize > 1 else dtype)


def _find_raw(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_mnist_like(name: str, folder_name: str, tv_class: str, data_dir: Path,
                     input_shape: Shape | None, download: bool,
                     class_names: Sequence[str]) -> DatasetBundle:
    _check_native_shape(name, (1, 28, 28), input_shape, 10)
    raw = data_dir / folder_name / "raw"

    def present() -> dict[str, Path | None]:
        return {k: _find_raw(raw, stem) for k, stem in _MNIST_FILES.items()}

    files = present()
    if any(p is None for p in files.values()):
        if not download:
            raise _missing(name, raw, [f"{_MNIST_FILES[k]}[.gz]" for k, p in files.items()
                                       if p is None])
        with _lock(data_dir):
            files = present()
            if any(p is None for p in files.values()):
                import torchvision.datasets as tvd

                getattr(tvd, tv_class)(str(data_dir), train=True, download=True)
                files = present()
        if any(p is None for p in files.values()):  # pragma: no cover - torchvision changed
            raise _missing(name, raw, [_MNIST_FILES[k] for k, p in files.items() if p is None])

    arrays = {k: read_idx(p) for k, p in files.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"dataset {name!r} in {raw}: {split} images {x.shape} and labels "
                             f"{y.shape} are not N x 28 x 28 and N")
    x_train = torch.from_numpy(arrays["train_x"].astype(np.uint8)).unsqueeze(1)
    y_train = torch.from_numpy(arrays["train_y"].astype(np.int64))
    x_test = torch.from_numpy(arrays["test_x"].astype(np.uint8)).unsqueeze(1)
    y_test = torch.from_numpy(arrays["test_y"].astype(np.int64))
    train, valid = _holdout(x_train, y_train)
    return _bundle(name, train, valid, (x_test, y_test), 10, class_names)


@register_dataset("mnist")
def _load_mnist(data_dir: Path, input_shape: Shape | None, download: bool) -> DatasetBundle:
    return _load_mnist_like("mnist", "MNIST", "MNIST", data_dir, input_shape, download,
                            [str(i) for i in range(10)])


@register_dataset("fashion_mnist")
def _load_fashion_mnist(data_dir: Path, input_shape: Shape | None,
                        download: bool) -> DatasetBundle:
    return _load_mnist_like(
        "fashion_mnist", "FashionMNIST", "FashionMNIST", data_dir, input_shape, download,
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"])


# ------------------------------------------------------------------ CIFAR-10

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR_TEST = "test_batch"
_CIFAR_META = "batches.meta"


def _unpickle(path: Path) -> dict[str, Any]:
    # The official format is a python pickle (as torchvision reads it); keys may be bytes.
    with open(path, "rb") as f:
        obj = pickle.load(f, encoding="latin1")
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a CIFAR batch (a pickled dict), got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    d = _unpickle(path)
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path} is not a CIFAR-10 batch: keys {sorted(d)} lack data/labels")
    data = np.asarray(d["data"], dtype=np.uint8)
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{path}: data {data.shape} and labels {labels.shape} are not "
                         f"N x 3072 and N")
    return (torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()),
            torch.from_numpy(labels))


@register_dataset("cifar10")
def _load_cifar10(data_dir: Path, input_shape: Shape | None, download: bool) -> DatasetBundle:
    _check_native_shape("cifar10", (3, 32, 32), input_shape, 10)
    folder = data_dir / _CIFAR_FOLDER
    needed = [*_CIFAR_TRAIN, _CIFAR_TEST]

    def missing() -> list[str]:
        return [f for f in needed if not (folder / f).is_file()]

    if missing():
        if not download:
            raise _missing("cifar10", folder, missing())
        with _lock(data_dir):
            if missing():
                import torchvision.datasets as tvd

                tvd.CIFAR10(str(data_dir), train=True, download=True)
        if missing():  # pragma: no cover - torchvision changed
            raise _missing("cifar10", folder, missing())

    parts = [_cifar_batch(folder / f) for f in _CIFAR_TRAIN]
    x_train = torch.cat([p[0] for p in parts])
    y_train = torch.cat([p[1] for p in parts])
    test = _cifar_batch(folder / _CIFAR_TEST)
    class_names: Sequence[str] = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                  "horse", "ship", "truck")
    if (folder / _CIFAR_META).is_file():
        meta = _unpickle(folder / _CIFAR_META)
        label_names = meta.get("label_names")
        if label_names:
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in label_names]
    train, valid = _holdout(x_train, y_train)
    return _bundle("cifar10", train, valid, test, 10, class_names)
