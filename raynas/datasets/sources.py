"""Datasets by name, loaded once by the driver and shipped to trials in a ``DatasetBundle``.

``load("digits", input_shape=(1, 28, 28))`` -> a bundle of in-memory tensors with FIXED
train / validation / test splits, small enough to put in Ray's object store once
(``tune.with_parameters``) rather than re-read by every trial.

Registered datasets (``names()``):

- ``digits``: the embedded offline default, scikit-learn's ``load_digits`` (1,797 real 8x8
  handwritten digits, 10 classes), resized bilinearly to the requested H x W and repeated over
  channels when the space wants C > 1; a fixed stratified 70/15/15 split (seed 0).
- ``mnist``, ``fashion_mnist`` (1x28x28, 10 classes): the official idx files (optionally
  ``.gz``) under ``<data_dir>/MNIST/raw/`` and ``<data_dir>/FashionMNIST/raw/``, read by
  torchvision's ``MNIST`` / ``FashionMNIST``.
- ``cifar10`` (3x32x32, 10 classes): the official python pickles under
  ``<data_dir>/cifar-10-batches-py/``, read by torchvision's ``CIFAR10``.

For the three file-backed datasets the validation split is a fixed held-out slice (the last
10%, at most 5,000 images) of the official training set and the test split is the official
test set; ``download=True`` fetches missing files through torchvision (under a file lock in
``data_dir``, since several processes may prepare the same folder). They are not resized: a
space whose input differs is an error (:func:`check_fits`).

Images are stored as uint8 NCHW (0..255); ``mean``/``std`` are per channel in [0, 1] units,
computed on the training split, and applied on the fly (:meth:`DatasetBundle.normalize`).
"""

from __future__ import annotations

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
    if shape is not None:  # digits is resized to it; the file-backed datasets are not
        check_fits(bundle, shape, bundle.num_classes)
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
# torchvision's dataset classes read the official files; raynas only finds them (or has
# torchvision download them) and makes the fixed splits.

_MNIST_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
                "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def _find_raw(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _mnist_files(name: str, raw: Path, data_dir: Path, tv_class: str, download: bool) -> None:
    """Make sure ``raw`` holds the four idx files, uncompressed as torchvision reads them: a
    ``.gz`` copy is extracted (as torchvision does after a download); absent ones are
    downloaded when asked, else a :class:`DatasetNotFound` naming them."""

    def present() -> dict[str, Path | None]:
        return {k: _find_raw(raw, stem) for k, stem in _MNIST_FILES.items()}

    files = present()
    if any(p is None for p in files.values()):
        if not download:
            raise _missing(name, raw, [f"{_MNIST_FILES[k]}[.gz]" for k, p in files.items()
                                       if p is None])
        with _lock(data_dir):
            if any(p is None for p in present().values()):
                import torchvision.datasets as tvd

                getattr(tvd, tv_class)(str(data_dir), train=True, download=True)
        files = present()
        if any(p is None for p in files.values()):  # pragma: no cover - torchvision changed
            raise _missing(name, raw, [_MNIST_FILES[k] for k, p in files.items() if p is None])
    if any(p.suffix == ".gz" for p in files.values()):  # type: ignore[union-attr]
        from torchvision.datasets.utils import extract_archive

        with _lock(data_dir):
            for path in files.values():
                if path.suffix == ".gz" and not path.with_suffix("").is_file():  # type: ignore
                    extract_archive(str(path), str(raw))


def _load_mnist_like(name: str, folder_name: str, tv_class: str, data_dir: Path,
                     input_shape: Shape | None, download: bool) -> DatasetBundle:
    import torchvision.datasets as tvd

    raw = data_dir / folder_name / "raw"
    _mnist_files(name, raw, data_dir, tv_class, download)
    cls = getattr(tvd, tv_class)
    try:
        train_set = cls(str(data_dir), train=True, download=False)
        test_set = cls(str(data_dir), train=False, download=False)
    except (RuntimeError, AssertionError, ValueError) as err:
        raise ValueError(f"dataset {name!r} in {raw}: not readable idx files: {err}") from None
    train, valid = _holdout(train_set.data.unsqueeze(1), train_set.targets.to(torch.int64))
    test = (test_set.data.unsqueeze(1), test_set.targets.to(torch.int64))
    return _bundle(name, train, valid, test, 10, list(train_set.classes))


@register_dataset("mnist")
def _load_mnist(data_dir: Path, input_shape: Shape | None, download: bool) -> DatasetBundle:
    return _load_mnist_like("mnist", "MNIST", "MNIST", data_dir, input_shape, download)


@register_dataset("fashion_mnist")
def _load_fashion_mnist(data_dir: Path, input_shape: Shape | None,
                        download: bool) -> DatasetBundle:
    return _load_mnist_like("fashion_mnist", "FashionMNIST", "FashionMNIST", data_dir,
                            input_shape, download)


# ------------------------------------------------------------------ CIFAR-10

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck")


def _cifar10_class() -> type:
    """torchvision's ``CIFAR10`` reading the batches that are present: it checks the files
    exist, not the official checksums (as raynas always has), and takes its class names from
    ``batches.meta`` when there is one."""
    import torchvision.datasets as tvd

    class PresentCIFAR10(tvd.CIFAR10):
        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            path = Path(self.root) / self.base_folder / self.meta["filename"]
            self.classes = list(_CIFAR_CLASSES)
            if path.is_file():
                with open(path, "rb") as f:
                    self.classes = list(pickle.load(f, encoding="latin1")[self.meta["key"]])
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return PresentCIFAR10


def _cifar_split(cls: type, data_dir: Path, train: bool) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]]:
    try:
        part = cls(str(data_dir), train=train, download=False)
    except (KeyError, ValueError, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"dataset 'cifar10' in {data_dir / _CIFAR_FOLDER}: not readable "
                         f"CIFAR-10 batches: {type(err).__name__}: {err}") from None
    x = torch.from_numpy(np.ascontiguousarray(part.data.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    return part, (x, torch.as_tensor(part.targets, dtype=torch.int64))


@register_dataset("cifar10")
def _load_cifar10(data_dir: Path, input_shape: Shape | None, download: bool) -> DatasetBundle:
    folder = data_dir / _CIFAR_FOLDER

    def missing() -> list[str]:
        return [f for f in _CIFAR_FILES if not (folder / f).is_file()]

    if missing():
        if not download:
            raise _missing("cifar10", folder, missing())
        with _lock(data_dir):
            if missing():
                import torchvision.datasets as tvd

                tvd.CIFAR10(str(data_dir), train=True, download=True)
        if missing():  # pragma: no cover - torchvision changed
            raise _missing("cifar10", folder, missing())
    cls = _cifar10_class()
    train_set, (x_train, y_train) = _cifar_split(cls, data_dir, train=True)
    _, test = _cifar_split(cls, data_dir, train=False)
    train, valid = _holdout(x_train, y_train)
    return _bundle("cifar10", train, valid, test, 10, train_set.classes)
