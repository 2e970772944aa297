"""Architecture files: a genome as a JSON object ``{key: decision}``.

``load_architecture`` reads raynas files and NNI v1 exports (candidate names, indices or
boolean masks); pass the result through ``SearchSpace.validate`` (``fix`` does) to get the
canonical genome.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Union

from raynas.core.files import atomic_write_text

PathLike = Union[str, "os.PathLike[str]"]


def export_architecture(genome: Mapping[str, Any], path: PathLike) -> Path:
    """Write ``genome`` as a JSON object to ``path`` (atomically) and return the path."""
    if not isinstance(genome, Mapping):
        raise ValueError(f"a genome must be a mapping {{key: decision}}, got {type(genome).__name__}")
    return atomic_write_text(path, json.dumps(dict(genome), indent=2, sort_keys=False) + "\n")


def load_architecture(path: PathLike) -> dict[str, Any]:
    """Read an architecture JSON file (raynas or NNI v1 export) as a dict.

    Raises ``ValueError`` when the file is not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an architecture is a JSON object {{key: decision}}, "
                         f"got {type(data).__name__}")
    return data
