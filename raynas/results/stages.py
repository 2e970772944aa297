"""The stages of a one-shot run's rows (``stage``: ``oneshot``, ``retrain``) side by side.

Pandas only: ``report`` and the one-shot summary pair each retrained genome with its
inherited-weight accuracy and measure how well the one ranked the other (Kendall's tau).
"""

from __future__ import annotations

from typing import Any

from raynas.results.store import completed

__all__ = ["inherited_vs_retrained", "is_oneshot_run", "kendall_tau"]


def is_oneshot_run(frame: Any) -> bool:
    """Whether ``frame`` holds rows of a one-shot run (a non-null ``stage``)."""
    return "stage" in frame and bool(frame["stage"].notna().any())


def inherited_vs_retrained(frame: Any) -> Any:
    """One row per retrained genome: ``genome``, ``trial_id`` (the retrain trial),
    ``inherited`` (its accuracy with the supernet's weights; the best when it was scored more
    than once) and ``retrained`` (the retrain trial's accuracy). Completed rows only."""
    import pandas as pd

    if not is_oneshot_run(frame):
        return pd.DataFrame(columns=["genome", "trial_id", "inherited", "retrained"])
    done = completed(frame)
    inherited = done[done["stage"] == "oneshot"].groupby("genome")["accuracy"].max()
    retrained = done[done["stage"] == "retrain"][["genome", "trial_id", "accuracy"]]
    pairs = retrained.rename(columns={"accuracy": "retrained"})
    pairs = pairs.assign(inherited=pairs["genome"].map(inherited))
    pairs = pairs[pairs["inherited"].notna()]
    return pairs[["genome", "trial_id", "inherited", "retrained"]].reset_index(drop=True)


def kendall_tau(pairs: Any) -> float | None:
    """Kendall's tau between inherited and retrained accuracy (``scipy.stats.kendalltau``),
    or ``None`` with fewer than two pairs or no variation."""
    import math

    if len(pairs) < 2:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(pairs["inherited"], pairs["retrained"]).statistic
    return None if tau is None or math.isnan(tau) else float(tau)
