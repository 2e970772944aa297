"""The ``--space`` text, parsed in one place: a registered name, ``FILE.py:Class`` or
``module:Class``. Plain data: no import of the space happens here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpaceSpec:
    """``kind`` is ``"name"``, ``"file"`` or ``"module"``; ``location`` the name, the file
    path (as given) or the module; ``attr`` the class or function (``None`` for a name)."""

    text: str
    kind: str
    location: str
    attr: str | None = None

    @classmethod
    def parse(cls, text: str) -> "SpaceSpec":
        """``ValueError`` stating the accepted forms when ``text`` is none of them."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"--space must be a registered name, FILE.py:Class or "
                             f"module:Class, got {text!r}")
        if ":" not in text:
            return cls(text, "name", text)
        location, _, attr = text.rpartition(":")
        if not attr.isidentifier():
            raise ValueError(f"--space {text!r}: {attr!r} is not a class or function name")
        return cls(text, "file" if location.endswith(".py") else "module", location, attr)

    @property
    def path(self) -> Path | None:
        """The space file, resolved (``None`` unless ``kind == "file"``)."""
        return Path(self.location).expanduser().resolve() if self.kind == "file" else None

    def resolved(self) -> str:
        """The spec with its file resolved to an absolute path (others unchanged): two specs
        of one space compare equal."""
        return f"{self.path}:{self.attr}" if self.kind == "file" else self.text

    @property
    def stem(self) -> str:
        """A short name of the space: the registered name, the class or function."""
        return self.attr or self.location

    def kept_in(self, folder: Path) -> "SpaceSpec":
        """For a space file that is not where the run found it: the copy in ``folder``
        (``DIR/space/``) when there is one; else this spec."""
        if self.kind != "file" or Path(self.location).expanduser().is_file():
            return self
        kept = Path(folder) / Path(self.location).name
        return SpaceSpec.parse(f"{kept.resolve()}:{self.attr}") if kept.is_file() else self
