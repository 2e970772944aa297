"""The row schema of a run's results: the statuses, the columns and one row's making."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Mapping, Sequence

import pyarrow as pa

from raynas.core.space import SearchSpace


class Status(str, Enum):
    """A row's status: the one list of them (``Status.COMPLETED == "completed"``)."""

    COMPLETED = "completed"  # trained; accuracy is its validation accuracy
    FAILED = "failed"        # the candidate raised (shape error, NaN loss, OOM) or was lost
    REJECTED = "rejected"    # screened out before training (--max-params, --max-flops,
                             # --max-latency-ms)
    STOPPED = "stopped"      # early-stopped by a scheduler (--scheduler); accuracy: its last

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(status.value for status in Status)
#: The ``stage`` of a one-shot run's row (null for ``evolve`` rows).
STAGES = ("oneshot", "retrain")
ARCH_PREFIX = "arch."

# Fixed columns, in order; one ``arch.<key>`` string column per mutable key follows ``genome``.
BASE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("trial_id", pa.string()),
    ("order", pa.int64()),
    ("status", pa.string()),
    ("genome", pa.string()),
    ("parent_trial_id", pa.string()),
    ("accuracy", pa.float64()),
    ("loss", pa.float64()),
    ("params", pa.int64()),
    ("flops", pa.int64()),
    ("latency_ms", pa.float64()),
    ("latency_batch_ms", pa.float64()),
    ("epochs", pa.int64()),
    ("accuracy_curve", pa.string()),
    ("train_seconds", pa.float64()),
    ("samples_per_second", pa.float64()),
    ("node", pa.string()),
    ("node_ip", pa.string()),
    ("gpu_ids", pa.string()),
    ("started_at", pa.timestamp("ms", tz="UTC")),
    ("finished_at", pa.timestamp("ms", tz="UTC")),
    ("error", pa.string()),
    ("strategy", pa.string()),
    ("seed", pa.int64()),
    ("stage", pa.string()),
]


def results_schema(keys: Sequence[str]) -> pa.Schema:
    """The Parquet schema of a run whose space has ``keys``."""
    fields = []
    for name, dtype in BASE_COLUMNS:
        fields.append(pa.field(name, dtype))
        if name == "genome":
            fields.extend(pa.field(ARCH_PREFIX + key, pa.string()) for key in keys)
    return pa.schema(fields)


def arch_value(decision: Any) -> str:
    """A decision as an ``arch.<key>`` cell: a candidate name or a value choice's string as
    is, JSON for an input list or a value choice's number (``"32"``, ``"0.5"``)."""
    return decision if isinstance(decision, str) else json.dumps(decision)


def genome_text(genome: Mapping[str, Any]) -> str:
    """A genome as the ``genome`` column's text: the one canonical form (see
    :meth:`SearchSpace.genome_id`), equal for equal genomes."""
    return SearchSpace.genome_id(genome)


def make_row(keys: Sequence[str], genome: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    """A row with ``genome`` as JSON text plus one ``arch.<key>`` column per key."""
    status = values.get("status")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {list(STATUSES)}, got {status!r}")
    values["status"] = Status(status).value
    stage = values.get("stage")
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)} or None, got {stage!r}")
    row: dict[str, Any] = {name: None for name, _ in BASE_COLUMNS}
    unknown = set(values) - set(row)
    if unknown:
        raise ValueError(f"unknown result columns {sorted(unknown)}; known: {list(row)}")
    row.update(values)
    row["genome"] = genome_text(genome)
    for key in keys:
        row[ARCH_PREFIX + key] = arch_value(genome[key])
    return row
