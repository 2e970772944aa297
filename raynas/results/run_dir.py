"""A run folder as a type: its paths, the one-writer lock, ``run.json`` and the space copy.

``run.json`` is a :class:`RunInfo`. Format versions:

- 0: raynas 0.1.0 (no ``format_version`` key); read as is, resumable.
- 1: the same fields plus ``format_version`` (and, since multi-objective runs, ``objectives``:
  absent means ``{"accuracy": "max"}``).

Any version is read for ``report``, ``export`` and ``train --run`` (unknown fields are
kept); ``--resume`` refuses a version newer than :data:`RUN_FORMAT_VERSION`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raynas.core.files import atomic_write_text, check_writable
from raynas.core.space_spec import SpaceSpec
from raynas.results.errors import ResultsError

RUN_FORMAT_VERSION = 1


class RunInfo(BaseModel):
    """The content of ``DIR/run.json``."""

    model_config = ConfigDict(extra="allow")

    format_version: int = Field(RUN_FORMAT_VERSION, ge=0, description="0 for raynas 0.1.0.")
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="The run's EvolveSettings, as given.")
    objectives: Optional[dict[str, str]] = Field(None, description="Metric -> max/min, in "
                                                 "priority order (None: accuracy max).")
    space: Optional[dict[str, Any]] = Field(None, description="SearchSpace.to_dict().")
    input_shape: Optional[list[int]] = None
    num_classes: Optional[int] = None
    dataset: Optional[str] = None
    updated_at: Optional[str] = None


class RunDir:
    """The folder of one run (see :mod:`raynas.results.store` for the rows' files)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def info_path(self) -> Path:
        return self.path / "run.json"

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def space_dir(self) -> Path:
        """Where a space file and the modules it imports are kept (``DIR/space/``)."""
        return self.path / "space"

    @property
    def lock_path(self) -> Path:
        return self.path / ".writer.lock"

    def holds_trials(self) -> bool:
        return self.trials_dir.is_dir() and any(self.trials_dir.iterdir())

    def acquire_writer_lock(self, resume: bool = True, purpose: str | None = None) -> Any:
        """The one-writer lock, held (the OS drops it with its process, even on SIGKILL);
        a :class:`~raynas.results.store.ResultsError` when another process holds it (the
        message names what waits: ``purpose``, else resuming or starting a run)."""
        from filelock import FileLock, Timeout

        check_writable(self.path, "the run folder")
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            purpose = purpose or ("resuming it" if resume else "writing a new run into it "
                                  "(or pass another --out)")
            raise ResultsError(f"{self.path} is being written by another raynas process; "
                               f"wait for it to end (or stop it) before {purpose}") from None
        except OSError as err:
            raise ResultsError(f"cannot lock {self.lock_path}: {err.strerror or err}") from None
        return lock

    def is_being_written(self) -> bool:
        """Whether a raynas process holds the writer lock now (a run in progress)."""
        from filelock import FileLock, Timeout

        if not self.lock_path.exists():
            return False
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        except OSError:
            return False
        lock.release()
        return False

    def read_info(self) -> RunInfo:
        """``run.json`` of any format version; ``ResultsError`` when missing or corrupt."""

        if not self.info_path.exists():
            raise ResultsError(f"{self.path} is not a raynas run folder: {self.info_path} "
                               f"is missing")
        try:
            data = json.loads(self.info_path.read_text())
            if isinstance(data, dict):
                data.setdefault("format_version", 0)  # raynas 0.1.0 wrote no version
            return RunInfo.model_validate(data)
        except (json.JSONDecodeError, ValidationError) as err:
            raise ResultsError(f"corrupt run settings {self.info_path}: {err}") from None

    def read_resumable_info(self) -> RunInfo:
        """``run.json`` for ``--resume``: a format newer than this raynas is an error."""

        info = self.read_info()
        if info.format_version > RUN_FORMAT_VERSION:
            raise ResultsError(
                f"--resume {self.path}: its run.json has format version {info.format_version}, "
                f"newer than this raynas reads to resume (versions 0 to {RUN_FORMAT_VERSION}); "
                f"upgrade raynas, or start a new run with another --out")
        return info

    def write_info(self, info: RunInfo) -> Path:
        """Write ``run.json`` atomically, in the current format version."""
        info = info.model_copy(update={"format_version": RUN_FORMAT_VERSION})
        return atomic_write_text(self.info_path, info.model_dump_json(indent=2) + "\n")

    def keep_space_files(self, files: Iterable[Path]) -> None:
        """Copy a space file and the modules it imports into ``DIR/space/`` (once: a resumed
        run keeps the first copies), so the run can be resumed or retrained elsewhere."""
        for file in files:
            target = self.space_dir / file.name
            if not target.exists():
                self.space_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)

    def space_spec(self, spec: str) -> str:
        """The recorded ``--space`` usable here: a space file that is not where the run found
        it is taken from the copy in ``DIR/space/``."""
        try:
            return SpaceSpec.parse(spec).kept_in(self.space_dir).text
        except ValueError:
            return spec  # not a spec: the run's own check names it
