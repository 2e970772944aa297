"""Writing files so that a reader never sees half of one: the one atomic-write helper."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Union

PathLike = Union[str, "os.PathLike[str]"]


def atomic_write(path: PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a hidden temporary file beside ``path``, then move it onto
    ``path`` with ``os.replace`` (atomic on one file system); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def check_writable(path: PathLike, what: str = "the folder") -> Path:
    """``path`` (a folder, made when missing) accepts new files, else a ``ValueError`` naming it.

    The check writes and removes a hidden probe file in ``path``, or in its nearest existing
    parent when ``path`` does not exist yet (nothing is made there), so a read-only file
    system, missing permissions or a full disk fail before any work is done.
    """
    import tempfile

    path = Path(path)
    probe_in = path
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if probe_in.exists() and not probe_in.is_dir():
        raise ValueError(f"{what} {path} cannot be made: {probe_in} is a file, not a folder; "
                         f"pass a folder path")
    try:
        with tempfile.NamedTemporaryFile(dir=probe_in, prefix=".raynas-probe-"):
            pass
    except OSError as err:
        raise ValueError(f"{what} {path} is not writable ({err.strerror or err} in "
                         f"{probe_in}); pass a folder you can write to") from None
    return path
