"""Architecture files: a genome as a JSON object ``{key: decision}``.

``load_architecture`` reads raynas files and NNI v1 exports (candidate names, indices,
boolean masks, ``[]`` for a dropped DARTS edge, NNI's counter keys ``LayerChoice1``);
pass the result through ``SearchSpace.validate`` (``fix`` does), or pass ``space=``, to
get the canonical genome.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Union

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from raynas.core.space import SearchSpace

from raynas.core.files import atomic_write_text

PathLike = Union[str, "os.PathLike[str]"]


def export_architecture(genome: Mapping[str, Any], path: PathLike) -> Path:
    """Write ``genome`` as a JSON object to ``path`` (atomically) and return the path."""
    if not isinstance(genome, Mapping):
        raise ValueError(f"a genome must be a mapping {{key: decision}}, got {type(genome).__name__}")
    return atomic_write_text(path, json.dumps(dict(genome), indent=2, sort_keys=False) + "\n")


def load_architecture(path: PathLike, space: "SearchSpace | nn.Module | None" = None) -> dict[str, Any]:
    """Read an architecture JSON file (raynas or NNI v1 export) as a dict.

    With ``space`` (a :class:`SearchSpace` or a model with mutables) the result is the
    canonical genome of that space: NNI forms become candidate names and NNI's counter
    keys (``LayerChoice1``, ...) become the space's keys. Raises ``ValueError`` when the
    file is not a JSON object or, with ``space``, not a genome of it (the message names
    the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an architecture is a JSON object {{key: decision}}, "
                         f"got {type(data).__name__}")
    if space is None:
        return data
    from raynas.core.space import SearchSpace

    if not isinstance(space, SearchSpace):
        space = SearchSpace.from_model(space)
    try:
        return space.validate(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
