"""The settings of ``raynas oneshot``: ``evolve``'s settings plus the one-shot stages'.

:class:`OneshotSettings` extends :class:`~raynas.run.settings.EvolveSettings`, so the command
line, ``-c FILE.yaml`` and ``--resume`` treat the shared options (space, dataset, strategy,
seed, out, resources) exactly as ``evolve`` does. ``trials`` and ``epochs`` are evolve's:
a one-shot run's counts are ``--candidates`` and ``--retrain-top-k``, its epochs
``--supernet-epochs`` and ``--retrain-epochs``.
"""

from __future__ import annotations

from pydantic import Field

from raynas.run.settings import FIXED, EvolveSettings

__all__ = ["INHERITED_METRICS", "ONESHOT_ONLY", "EVOLVE_ONLY", "OneshotSettings"]

#: What a candidate's evaluation with inherited weights measures: the objectives (``--objective``)
#: a one-shot search can optimise.
INHERITED_METRICS = ("accuracy", "loss", "params")


class OneshotSettings(EvolveSettings):
    """What ``raynas oneshot`` runs: supernet training, inherited-weight search, retraining."""

    space: str = Field("nasbench201-small", description="Registered space (raynas list), "
                       "FILE.py:Class or module:Class; LayerChoice/InputChoice decisions only.",
                       json_schema_extra=FIXED)
    supernet_epochs: int = Field(10, ge=1, description="Epochs of supernet training (Ray Train).",
                                 json_schema_extra=FIXED)
    supernet_lr: float = Field(0.05, gt=0, description="Supernet learning rate (SGD, cosine "
                               "decay).", json_schema_extra=FIXED)
    workers: int = Field(2, ge=1, description="Ray Train workers of the supernet training (one "
                         "CPU each; one GPU each when --gpus-per-trial > 0), and evaluator "
                         "actors of the search.")
    candidates: int = Field(200, ge=1, description="Candidates the search scores with "
                            "inherited weights (a resumed run may raise it).")
    retrain_top_k: int = Field(3, ge=1, description="Best distinct candidates retrained from "
                               "scratch as Ray Tune trials.")
    retrain_epochs: int = Field(3, ge=0, description="Training epochs of each retrained "
                                "candidate.", json_schema_extra=FIXED)


#: Settings of ``evolve`` that ``oneshot`` does not take (not offered on its command line).
EVOLVE_ONLY = ("trials", "epochs", "max_params", "max_flops")
#: Settings only ``oneshot`` has: a run folder whose ``run.json`` lacks them is an ``evolve`` run.
ONESHOT_ONLY = tuple(name for name in OneshotSettings.model_fields
                     if name not in EvolveSettings.model_fields)
