"""Where a run's model comes from: a registered space name, ``FILE.py:Class`` or ``module:Class``.

A ``SpaceSource`` is plain, picklable data that every worker resolves to the same model
factory. A user's file is copied into a small package that Ray's runtime environment
(``py_modules``) ships to every node, so a worker that never saw the file can build it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from raynas.core.space_spec import SpaceSpec
from raynas.results.run_dir import RunDir


@dataclass(frozen=True)
class SpaceSource:
    """``name`` for a registered space; else ``module`` (importable) and ``attr``."""

    spec: str
    name: str | None = None
    module: str | None = None
    attr: str | None = None
    package_dir: str | None = None  # local folder shipped with py_modules, for a file space

    def factory(self) -> Callable[[], nn.Module]:
        """The model factory (cached per process)."""
        return _factory(self)

    @property
    def file(self) -> Path | None:
        """The user's space file, for a ``FILE.py:Class`` space."""
        return Path(self.spec.rpartition(":")[0]) if self.package_dir else None

    def build(self) -> nn.Module:
        """A new model; any failure of the user's code is a ``ValueError`` naming the space."""
        try:
            model = self.factory()()
        except Exception as err:  # noqa: BLE001 - user code may raise anything
            raise ValueError(f"--space {self.spec!r}: building the model failed: "
                             f"{type(err).__name__}: {err}") from err
        if not isinstance(model, nn.Module):
            raise ValueError(f"--space {self.spec!r}: the factory returned a "
                             f"{type(model).__name__}, not an nn.Module")
        return model

    def build_for_search(self) -> Any:
        """What the space and genomes are read from: the built supernet, or the factory when
        the model holds value choices (``ValueChoice``, ``Repeat``) and must be built per
        genome. ``ValueError`` naming the space when building fails."""
        from raynas.core.values import supernet_or_factory

        try:
            return supernet_or_factory(self.factory())
        except (TypeError, ValueError) as err:
            raise ValueError(f"--space {self.spec!r}: {err}") from err

    def keep_copy(self, run_dir: Path) -> None:
        """Copy a space file (and the modules it imports from beside it) into
        ``run_dir/space/`` so the run can be resumed or retrained where the original path
        does not exist."""
        if self.package_dir is None or not Path(self.package_dir).is_dir():
            return
        RunDir(run_dir).keep_space_files(
            file for file in sorted(Path(self.package_dir).glob("*.py"))
            if file.name != "__init__.py")

    def input_shape(self) -> tuple[int, int, int] | None:
        shape = getattr(self.factory(), "input_shape", None)
        return tuple(shape) if shape is not None else None

    def num_classes(self) -> int | None:
        return getattr(self.factory(), "num_classes", None)

    def runtime_env(self) -> dict[str, Any]:
        """What Ray must ship to the workers for this space."""
        return {"py_modules": [self.package_dir]} if self.package_dir else {}


def parse_space(spec: str) -> SpaceSource:
    """A ``SpaceSource`` from ``--space`` text; ``ValueError`` with the accepted forms."""
    import raynas.spaces

    parsed = SpaceSpec.parse(spec)
    if parsed.kind == "name":
        if spec not in raynas.spaces.names():
            raise ValueError(f"unknown space {spec!r}; registered: {', '.join(raynas.spaces.names())}; "
                             f"or give FILE.py:Class or module:Class")
        return SpaceSource(spec=spec, name=spec)
    if parsed.kind == "file":
        path = parsed.path
        if not path.is_file():
            raise ValueError(f"--space {spec!r}: file {path} does not exist")
        package_dir = _package_file(path)
        module = f"{package_dir.name}.{path.stem}"
        source = SpaceSource(spec=parsed.resolved(), module=module, attr=parsed.attr,
                             package_dir=str(package_dir))
    else:
        source = SpaceSource(spec=spec, module=parsed.location, attr=parsed.attr)
    source.factory()  # fail now, in the driver, with a clear error
    return source


def run_space_spec(run_dir: Path, spec: str) -> str:
    """The ``--space`` of a recorded run, usable here (see :meth:`RunDir.space_spec`)."""
    return RunDir(run_dir).space_spec(spec)


def local_imports(path: Path) -> list[Path]:
    """``path`` and the modules beside it that it imports, directly or through one another
    (``import blocks``, ``from blocks import conv``, ``from . import blocks``), in name order.

    Only single-file modules of ``path``'s own folder count: anything else is an installed
    package, which a worker has already, and a file nobody imports (a script, a settings
    file) stays behind.
    """
    folder = path.parent
    found: dict[str, Path] = {path.stem: path}
    todo = [path]
    while todo:
        tree = ast.parse(todo.pop().read_text(), filename=str(path))
        for name in _imported_names(tree):
            candidate = folder / f"{name}.py"
            if name not in found and candidate.is_file():
                found[name] = candidate
                todo.append(candidate)
    return [found[name] for name in sorted(found)]


def _imported_names(tree: ast.AST) -> set[str]:
    """The first component of every module an AST imports (relative ones: the module or,
    for ``from . import x``, the names imported)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                names.add(node.module.split(".")[0])
            elif node.level:
                names.update(alias.name for alias in node.names)
    return names


def _package_file(path: Path) -> Path:
    """Copy a space file and the modules beside it that it imports (:func:`local_imports`)
    into ``<tmp>/raynas_space_<hash>/``, a package for ``py_modules`` whose ``__init__`` puts
    its own folder on ``sys.path``, so the space file's imports of its neighbours
    (``from blocks import conv``) work anywhere."""
    try:
        files = local_imports(path)
    except SyntaxError as err:
        raise ValueError(f"--space {path}: not valid Python: {err}") from None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    package = Path(tempfile.gettempdir()) / "raynas-spaces" / f"raynas_space_{digest.hexdigest()[:12]}"
    if not (package / "__init__.py").exists():
        package.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=package.parent))
        for file in files:
            if file.name != "__init__.py":
                shutil.copy2(file, staging / file.name)
        (staging / "__init__.py").write_text(
            "import os as _os, sys as _sys\n"
            "# the space file imports its neighbours as top-level modules\n"
            "if _os.path.dirname(__file__) not in _sys.path:\n"
            "    _sys.path.insert(0, _os.path.dirname(__file__))\n")
        try:
            staging.rename(package)
        except OSError:  # another process made it first: same content
            shutil.rmtree(staging, ignore_errors=True)
    return package


_CACHE: dict[SpaceSource, Callable[[], nn.Module]] = {}


def _import(source: SpaceSource) -> Any:
    """Import the space's module: in a worker from the package Ray's runtime environment
    shipped; in the driver (or without Ray) from the local copy."""
    local = Path(source.package_dir) if source.package_dir else None
    try:
        try:
            return importlib.import_module(source.module)
        except ModuleNotFoundError as err:
            if local is None or not local.is_dir() or err.name not in source.module:
                raise
            sys.path.insert(0, str(local.parent))
            return importlib.import_module(source.module)
    except Exception as err:  # noqa: BLE001 - report any import failure of user code
        raise ValueError(f"--space {source.spec!r}: cannot import {source.module!r}: "
                         f"{type(err).__name__}: {err}") from err


def _factory(source: SpaceSource) -> Callable[[], nn.Module]:
    if source in _CACHE:
        return _CACHE[source]
    if source.name is not None:
        import raynas.spaces

        factory = raynas.spaces.get(source.name)
    else:
        module = _import(source)
        factory = getattr(module, source.attr, None)
        if factory is None:
            where = source.file or repr(source.module)
            raise ValueError(f"--space {source.spec!r}: {where} has no {source.attr!r}")
        if isinstance(factory, type) and not issubclass(factory, nn.Module):
            raise ValueError(f"--space {source.spec!r}: {source.attr} is not an nn.Module class")
    _CACHE[source] = factory
    return factory


def load_dataset_for(source: SpaceSource, name: str, data_dir: str | None = None,
                     download: bool = False, limit: int | None = None):
    """Dataset ``name`` shaped for the space, checked to fit it.

    Returns ``(bundle, input_shape, num_classes)``; the shape and class count are the
    space's (``input_shape`` / ``num_classes`` attributes) or else the dataset's. Raises
    ``ValueError`` naming the dataset: unknown, files absent, or not fitting the space.
    """
    from raynas import datasets

    if name not in datasets.names():
        raise ValueError(f"--dataset: unknown dataset {name!r}; known: {', '.join(datasets.names())}")
    try:
        bundle = datasets.load(name, data_dir=data_dir, input_shape=source.input_shape(),
                               download=download, limit=limit)
    except (FileNotFoundError, ValueError) as err:
        raise ValueError(f"--dataset {name}: {err}") from None
    input_shape = tuple(source.input_shape() or bundle.input_shape)
    num_classes = int(source.num_classes() or bundle.num_classes)
    datasets.check_fits(bundle, input_shape, num_classes)
    return bundle, input_shape, num_classes
