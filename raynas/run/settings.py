"""The settings of a search run: one pydantic model for the command line and ``-c FILE.yaml``.

Unknown fields and wrong types are errors that name the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from raynas.results.objectives import OBJECTIVE_METRICS, parse_objective_list, objectives_text


# Marks a setting that shapes a run's results: ``--resume`` keeps it (see ``fixed_on_resume``).
FIXED: dict[str, Any] = {"fixed_on_resume": True}
# Early stopping on Ray Tune's schedulers (``--scheduler``); fifo trains every trial fully.
SCHEDULERS = ("fifo", "asha", "hyperband", "median")
DEFAULT_GRACE_EPOCHS = 1
DEFAULT_REDUCTION_FACTOR = 3.0

# Marks an option passed to the strategy's constructor when given (``strategy_options``).
STRATEGY_OPTION: dict[str, Any] = {"fixed_on_resume": True, "strategy_option": True}


class EvolveSettings(BaseModel):
    """What ``raynas evolve`` runs. Defaults: the embedded offline job."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    space: str = Field("mnist", description="Registered space (raynas list), FILE.py:Class or "
                       "module:Class.", json_schema_extra=FIXED)
    dataset: str = Field("digits", description="Dataset: digits (embedded, offline), mnist, "
                         "fashion_mnist, cifar10.", json_schema_extra=FIXED)
    data_dir: Optional[str] = Field(None, description="Folder of the torchvision datasets.")
    download: bool = Field(False, description="Download a missing torchvision dataset.")
    limit: Optional[int] = Field(None, ge=1, description="Use only this many training images.",
                                 json_schema_extra=FIXED)
    strategy: str = Field("evolution", description="Search strategy: evolution or random.",
                          json_schema_extra=FIXED)
    trials: int = Field(12, ge=1, description="Trials in total, rejected and failed ones included.")
    population_size: Optional[int] = Field(None, ge=1, description="Evolution: population size "
                                           "(default scales with --trials).",
                                           json_schema_extra=STRATEGY_OPTION)
    sample_size: Optional[int] = Field(None, ge=1, description="Evolution: tournament size.",
                                       json_schema_extra=STRATEGY_OPTION)
    objective: Optional[list[str]] = Field(
        None, description="An objective METRIC:max|min, repeatable, in priority order; metrics: "
        + ", ".join(OBJECTIVE_METRICS) + ". [accuracy:max]", json_schema_extra=FIXED)
    epochs: int = Field(3, ge=1, description="Training epochs per trial (at least 1).",
                        json_schema_extra=FIXED)
    batch_size: Optional[int] = Field(None, ge=1, description="Training batch size (default: "
                                      "the trainer's, 32).", json_schema_extra=FIXED)
    lr: Optional[float] = Field(None, gt=0, description="Learning rate (default: the trainer's).",
                                json_schema_extra=FIXED)
    max_batches_per_epoch: Optional[int] = Field(None, ge=1, description="Cap on training steps "
                                                 "per epoch.", json_schema_extra=FIXED)
    scheduler: str = Field("fifo", description="Early stopping on Ray Tune's schedulers: fifo "
                           "(none, every trial trains --epochs), asha, hyperband (asynchronous, "
                           "several brackets) or median (median stopping rule).",
                           json_schema_extra=FIXED)
    grace_epochs: Optional[int] = Field(None, ge=1, description="asha, hyperband, median: "
                                        f"epochs before a trial may be stopped "
                                        f"[{DEFAULT_GRACE_EPOCHS}].", json_schema_extra=FIXED)
    reduction_factor: Optional[float] = Field(None, description="asha, hyperband: keep 1 in "
                                              "this many trials at each rung; >= 2 "
                                              f"[{DEFAULT_REDUCTION_FACTOR:g}].",
                                              json_schema_extra=FIXED)
    seed: int = Field(0, ge=0, description="Seed of the strategy and of every trial.",
                      json_schema_extra=FIXED)
    out: Optional[str] = Field(None, description="Results folder (default: "
                               "./raynas-runs/<name>).")
    name: Optional[str] = Field(None, description="Run name for the default results folder.")
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs each trial reserves.")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs each trial reserves; 0.25 packs "
                                  "four trials on a GPU.")
    max_concurrent: Optional[int] = Field(None, ge=1, description="Trials running at once "
                                          "(default: as resources allow).")
    max_params: Optional[int] = Field(None, ge=1, description="Reject genomes with more "
                                      "parameters, before training.", json_schema_extra=FIXED)
    max_flops: Optional[int] = Field(None, ge=1, description="Reject genomes with more FLOPs "
                                     "per sample, before training.", json_schema_extra=FIXED)
    max_latency_ms: Optional[float] = Field(None, gt=0, description="Reject genomes whose "
                                            "measured latency at batch 1 (ms, on the trial's "
                                            "device, untrained) is higher, before training.",
                                            json_schema_extra=FIXED)
    max_failures: int = Field(2, ge=0, description="Retries of a trial lost with its node.")
    address: Optional[str] = Field(None, description="Ray address; 'auto' joins a running "
                                   "cluster (or set RAY_ADDRESS). Default: Ray on this machine.")
    num_cpus: Optional[int] = Field(None, ge=1, description="Local mode: CPUs the local Ray "
                                    "may use.")
    num_gpus: Optional[float] = Field(None, ge=0, description="Local mode: GPUs the local Ray "
                                      "advertises.")

    @field_validator("objective", mode="before")
    @classmethod
    def _objectives(cls, value: Any) -> Optional[list[str]]:
        if value is None:
            return None
        if not isinstance(value, (str, dict, list, tuple)):
            value = str(value)
        return objectives_text(parse_objective_list(value))

    @property
    def objectives(self) -> dict[str, str]:
        """The objectives as a mapping (default ``{"accuracy": "max"}``)."""
        return parse_objective_list(self.objective)

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        if value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; known: {', '.join(SCHEDULERS)}")
        return value

    @field_validator("reduction_factor")
    @classmethod
    def _halving_rate(cls, value: Optional[float]) -> Optional[float]:
        if value is not None and value < 2:
            raise ValueError(f"reduction_factor must be >= 2 (keep 1 in that many trials per "
                             f"rung), got {value:g}; e.g. 3")
        return value

    @model_validator(mode="after")
    def _scheduler_options_apply(self) -> "EvolveSettings":
        if self.scheduler != "fifo" and self.epochs < 1:
            raise ValueError(f"--scheduler {self.scheduler} stops trials between epochs and "
                             f"needs epochs >= 1, got epochs={self.epochs}")
        if self.grace_epochs is not None:
            if self.scheduler == "fifo":
                raise ValueError("grace_epochs applies to --scheduler asha, hyperband or median, "
                                 "not fifo; drop it or choose a scheduler")
            if self.grace_epochs > self.epochs:
                raise ValueError(f"grace_epochs must be <= epochs, got grace_epochs="
                                 f"{self.grace_epochs}, epochs={self.epochs}; lower "
                                 f"--grace-epochs or raise --epochs")
        if self.reduction_factor is not None and self.scheduler not in ("asha", "hyperband"):
            raise ValueError(f"reduction_factor applies to --scheduler asha or hyperband, not "
                             f"{self.scheduler}; drop it or choose one of those")
        return self

    @property
    def grace(self) -> int:
        """Epochs before a trial may be stopped (at most ``epochs``)."""
        return self.grace_epochs or min(DEFAULT_GRACE_EPOCHS, max(1, self.epochs))

    @property
    def halving_rate(self) -> float:
        return self.reduction_factor or DEFAULT_REDUCTION_FACTOR

    @field_validator("gpus_per_trial")
    @classmethod
    def _fraction_packs(cls, value: float) -> float:
        if 0 < value < 1 and abs(1 / value - round(1 / value)) > 1e-9:
            raise ValueError(f"a GPU fraction below 1 must divide one GPU evenly (0.5, 0.25, ...), "
                             f"got {value}")
        return value


def fixed_on_resume(model: type[EvolveSettings] = EvolveSettings) -> tuple[str, ...]:
    """The settings a resumed run keeps, so that its rows stay comparable: the fields of
    ``model`` marked ``fixed_on_resume`` (``--trials`` and the resource options may change)."""
    return tuple(name for name, field in model.model_fields.items()
                 if (field.json_schema_extra or {}).get("fixed_on_resume"))


def strategy_options(settings: EvolveSettings) -> dict[str, Any]:
    """The strategy options given (fields marked ``strategy_option`` that are not None)."""
    return {name: getattr(settings, name) for name, field in EvolveSettings.model_fields.items()
            if (field.json_schema_extra or {}).get("strategy_option")
            and getattr(settings, name) is not None}


def trial_seed(run_seed: int, order: int) -> int:
    """The seed of a run's trial ``order``: its initialization and shuffling."""
    return run_seed * 1_000_003 + order


def trial_threads(cpus_per_trial: float) -> int:
    """torch's intra-op thread count in a trial: one per whole CPU it reserves (at least one).
    ``raynas train --run`` uses the same, since the count changes float sums."""
    return max(1, int(cpus_per_trial))


def settings_from(file_values: dict[str, Any] | None, overrides: dict[str, Any]) -> EvolveSettings:
    """Settings from a YAML mapping, then command-line values that were given (not None)."""
    values = dict(file_values or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return EvolveSettings(**values)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A settings file as a mapping (``ValueError`` when it is not one)."""
    import yaml

    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    if "objectives" in values:  # `objectives:` reads as `objective:` (a list either way)
        if "objective" in values:
            raise ValueError(f"{path}: give objective or objectives, not both")
        values["objective"] = values.pop("objectives")
    return values


def explain(err: ValidationError) -> str:
    """A pydantic error as lines naming each field."""
    import difflib

    lines = []
    known = list(EvolveSettings.model_fields) if err.title == "EvolveSettings" else []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        line = f"{field}: {item['msg']} (got {item.get('input')!r})"
        if item["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
            line = f"{field}: unknown setting" + (f"; did you mean {near[0]!r}?" if near else
                                                 f"; known: {', '.join(known)}" if known else "")
        lines.append(line)
    return "; ".join(lines)
