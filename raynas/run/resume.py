"""The resume policy: a resumed run keeps the settings that shape its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raynas.core.space_spec import SpaceSpec
from raynas.results.objectives import objectives_text, parse_objective_list
from raynas.results.run_dir import RunDir
from raynas.results.store import ResultsError
from raynas.run.errors import RunError
from raynas.run.settings import EvolveSettings, fixed_on_resume


def resume_settings(run_dir: Path, overrides: dict[str, Any],
                    model: type[EvolveSettings] = EvolveSettings) -> EvolveSettings:
    """The settings of an earlier run, with the options given again on the command line.

    ``model``: the settings class of the run's command (``EvolveSettings`` or a subclass).
    ``--trials`` and the resource options may change; a setting marked ``fixed_on_resume``
    given with another value is a ``RunError`` naming it. A ``run.json`` of a newer format
    than this raynas reads is a ``RunError`` naming the version.
    """
    folder = RunDir(run_dir)
    try:
        info = folder.read_resumable_info()
    except ResultsError as err:
        raise RunError(str(err)) from None
    # a setting an older raynas did not record had its default (e.g. scheduler fifo)
    values = {**{name: field.default for name, field in EvolveSettings.model_fields.items()
                 if name in fixed_on_resume()}, **info.settings}
    given = {k: v for k, v in overrides.items() if v is not None}
    changed = [f"{k} ({values.get(k)!r} -> {given[k]!r})" for k in fixed_on_resume(model)
               if k in given and k not in ("space", "objective") and given[k] != values.get(k)]
    if "objective" in given:
        before = parse_objective_list(values.get("objective"))
        after = parse_objective_list(given["objective"])  # a bad one: its own error
        if list(before.items()) != list(after.items()):
            changed.append(f"objective ({','.join(objectives_text(before))} -> "
                           f"{','.join(objectives_text(after))})")
    if "space" in given and _same_space(given["space"]) != _same_space(values.get("space")):
        changed.append(f"space ({values.get('space')!r} -> {given['space']!r})")
    if changed:
        raise RunError(f"--resume {run_dir} keeps the run's settings that shape its results; "
                       f"changed: {', '.join(changed)}; drop these options, or start a new run "
                       f"with another --out")
    if "space" in values:
        values["space"] = folder.space_spec(values["space"])
    values.update({k: v for k, v in given.items() if k != "space"})
    values["out"] = str(run_dir)
    return model(**values)


def _same_space(spec: Any) -> Any:
    """A spec with its file resolved (a registered name as is), to compare."""
    try:
        return SpaceSpec.parse(spec).resolved()
    except ValueError:
        return spec
