"""``raynas report DIR``: plots, an HTML page and a terminal summary of a run's results.

Writes into ``DIR/report/`` (or ``--out``):

- ``best.png``: best validation accuracy so far against trials finished and against wall time,
  each completed trial a point (failed and rejected trials are marked on the x axis);
- ``pareto.png``: with one objective, accuracy against parameter count of the completed
  trials, the Pareto front (fewer parameters, higher accuracy) highlighted; with several
  (``run.json``'s ``objectives``), one panel per pair of objectives, the trials non-dominated
  on all of them highlighted;
- ``hv.png``: the hypervolume of the completed trials after each trial, normalised
  (:func:`raynas.results.objectives.hypervolume_curve`);
- ``choices.png``: per mutable key, how often each decision appears among the top 10% of the
  completed trials against all trials;
- ``curves.png``: validation accuracy against epoch, one line per trained trial (a trial an
  early-stopping scheduler stopped is a short line ending in a cross); past
  :data:`MAX_CURVES` trials an even sample of them, fainter (the title says how many);
- ``oneshot.png`` (one-shot runs only): accuracy with the supernet's inherited weights
  against accuracy retrained from scratch, one point per retrained genome, with Kendall's tau;
- ``index.html``: the plots, the top 10 genomes (mean accuracy over their trials, with
  count and spread, the trials listed), the counts and the run's settings.

It reads the rows with :func:`raynas.results.store.read_trials`, so a run still in progress (rows
only in the journal) and a run whose trials all failed are reported too. The table helpers
(:func:`decision_frequencies`; ``ranked`` and ``pareto_front`` live in
:mod:`raynas.results.store`) are plain pandas.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence


from raynas.core.files import check_writable
from raynas.results.store import (ARCH_PREFIX, Status, accuracy_curve, completed,
                                  counts, pareto_front, ranked, ranked_genomes,
                                  read_trials)
from raynas.results.objectives import (DEFAULT_OBJECTIVES, format_metric, front_lines,
                                      hypervolume_curve, objective_front, run_objectives)
from raynas.results.run_dir import RunDir
from raynas.results.stages import inherited_vs_retrained, is_oneshot_run

TOP_FRACTION = 0.1
TOP_TABLE = 10
#: At most this many accuracy curves are drawn (an even sample past it).
MAX_CURVES = 1000
#: Past this many trials, the hypervolume curve is a line without a dot per trial.
MAX_POINTS_MARKED = 500

# ------------------------------------------------------------------ tables (pandas only)


def arch_keys(frame: Any, info: Mapping[str, Any] | None = None) -> list[str]:
    """The mutable keys: the run's space when recorded, else the ``arch.<key>`` columns."""
    space = (info or {}).get("space") or {}
    keys = [d["key"] for d in space.get("dimensions", []) if "key" in d]
    if keys:
        return keys
    return [c[len(ARCH_PREFIX):] for c in frame.columns if c.startswith(ARCH_PREFIX)]


def _decision_order(key: str, info: Mapping[str, Any] | None, seen: Sequence[str],
                    max_listed: int = 16) -> list[str]:
    """Every valid decision of ``key`` in the space's order when few, else the ones seen."""
    from raynas.results.store import arch_value
    from raynas.core.space import Dimension

    for data in ((info or {}).get("space") or {}).get("dimensions", []):
        if data.get("key") == key:
            try:
                dim = Dimension.from_dict(data)
            except (ValueError, KeyError, TypeError):
                break
            if dim.size <= max_listed:
                decisions = list(dim.decisions())
                return [arch_value(d) for d in (sorted(decisions) if dim.numeric else decisions)]
            break
    return sorted(set(seen))


def _arch_column(frame: Any, key: str) -> Any:
    """The ``arch.<key>`` column, or the decision parsed from ``genome`` when absent."""
    from raynas.results.store import arch_value

    column = ARCH_PREFIX + key
    if column in frame.columns:
        return frame[column].astype(str)
    return frame["genome"].map(lambda text: arch_value(json.loads(text).get(key)))


def decision_frequencies(frame: Any, info: Mapping[str, Any] | None = None,
                         top_fraction: float = TOP_FRACTION) -> dict[str, Any]:
    """Per key, a DataFrame indexed by decision with columns ``top`` and ``all`` (fractions).

    ``top``: among the best ``ceil(top_fraction * trained)`` trained trials in
    :func:`~raynas.results.store.ranked` order (completed ones first, then those a scheduler
    stopped; at least one); ``all``: among every trial of the run, whatever its status.
    ``top`` is all zero when no trial trained. A decision inside a ``Repeat`` block counts
    only in the trials whose depth builds that block.
    """
    import pandas as pd

    best = ranked(frame)
    n_top = max(1, math.ceil(top_fraction * len(best))) if len(best) else 0
    top = best.head(n_top)
    space = _recorded_space(info)
    out = {}
    for key in arch_keys(frame, info):
        rows, top_rows = _where_active(frame, space, key), _where_active(top, space, key)
        everywhere = _arch_column(rows, key)
        among_top = _arch_column(top_rows, key) if len(top_rows) else pd.Series([], dtype=str)
        order = _decision_order(key, info, list(everywhere.unique()))
        order += [d for d in sorted(set(everywhere)) if d not in order]
        table = pd.DataFrame({
            "top": among_top.value_counts(normalize=True).reindex(order, fill_value=0.0),
            "all": everywhere.value_counts(normalize=True).reindex(order, fill_value=0.0),
        }).fillna(0.0)
        table.index.name = key
        out[key] = table
    return out


def _recorded_space(info: Mapping[str, Any] | None) -> Any:
    """The run's recorded ``SearchSpace``, or ``None``."""
    from raynas.core.space import SearchSpace

    try:
        return SearchSpace.from_dict((info or {}).get("space") or {})
    except (ValueError, KeyError, TypeError):
        return None


def _where_active(frame: Any, space: Any, key: str) -> Any:
    """The rows of ``frame`` whose model ``key``'s decision shapes (all rows when the key is
    unconditional or the space unknown)."""
    if space is None or key not in space or not space[key].when or not len(frame):
        return frame
    genomes = frame["genome"].map(json.loads)
    mask = genomes.map(lambda g: all(gate in g for clause in space[key].when
                                     for gate, _ in clause) and space.is_active(key, g))
    return frame[mask.astype(bool)]


def _finish_sequence(frame: Any) -> Any:
    """Rows in the order they finished, with ``n_finished`` (1..) and ``elapsed`` (seconds)."""
    import pandas as pd

    rows = frame.copy()
    finished = pd.to_datetime(rows["finished_at"], utc=True, errors="coerce")
    started = pd.to_datetime(rows["started_at"], utc=True, errors="coerce")
    rows["_finished"] = finished
    rows = rows.sort_values(["_finished", "order"], kind="stable", na_position="last")
    rows["n_finished"] = range(1, len(rows) + 1)
    origin = started.min() if started.notna().any() else finished.min()
    rows["elapsed"] = (rows["_finished"] - origin).dt.total_seconds() if pd.notna(origin) \
        else float("nan")
    return rows.drop(columns="_finished").reset_index(drop=True)


# ------------------------------------------------------------------ plots (matplotlib, Agg)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _note(ax: Any, text: str, y: float = 0.5) -> None:
    ax.text(0.5, y, text, ha="center", va="center", transform=ax.transAxes, fontsize=10,
            color="0.35", wrap=True, bbox={"facecolor": "white", "edgecolor": "0.8"})


def _thousands(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _dots(n: int, size: float = 22.0, alpha: float = 0.7, filled: bool = True) -> dict[str, Any]:
    """Scatter marker size and alpha for ``n`` points: as given up to 200 points, then
    smaller and fainter (by the square root of the count), so thousands stay readable
    (filled markers then lose their edge, which would hide the fading)."""
    scale = min(1.0, math.sqrt(200 / max(n, 1)))
    style: dict[str, Any] = {"s": max(5.0, size * scale), "alpha": max(0.3, alpha * scale)}
    if filled and scale < 1:
        style["edgecolors"] = "none"
    return style


def _legend(ax: Any, **options: Any) -> None:
    """The axes' legend with its markers at full strength, however faint the points are."""
    legend = ax.legend(fontsize=8, **options)
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1.0)


def plot_best(frame: Any, path: Path) -> Path:
    """Best accuracy so far vs trials finished (left) and vs wall time (right)."""
    plt = _pyplot()
    rows = _finish_sequence(frame)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ok = (rows["status"] == "completed") & rows["accuracy"].notna()
    accuracy = rows["accuracy"].where(ok).astype(float)
    best = accuracy.cummax()
    minutes = rows["elapsed"] / 60.0
    for ax, x, label in ((axes[0], rows["n_finished"], "trials finished"),
                         (axes[1], minutes, "wall time since the first trial started (min)")):
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        if not ok.any():
            ax.set_ylim(-0.05, 1.0)
            _note(ax, f"no completed trial yet ({len(rows)} finished: "
                      f"{', '.join(f'{v} {k}' for k, v in counts(frame).items() if v)})"
                  if len(rows) else "no trial finished yet", y=0.6)
        else:
            ax.scatter(x[ok], accuracy[ok], color="tab:blue", label="trial",
                       **_dots(int(ok.sum())))
            ax.step(x[best.notna()], best[best.notna()], where="post", color="tab:orange",
                    linewidth=2, label="best so far")
        bad = rows["status"] != "completed"
        if bad.any():
            low = accuracy[ok].min() if ok.any() else 0.0
            ax.scatter(x[bad], [low] * int(bad.sum()), marker="x", color="tab:red",
                       label="failed / rejected", **_dots(int(bad.sum()), size=30, alpha=1.0, filled=False))
        if ok.any() or bad.any():
            _legend(ax, loc="best")
    from matplotlib.ticker import MaxNLocator

    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title("best validation accuracy by trials finished")
    axes[1].set_title("best validation accuracy by wall time")
    return _save(fig, path)


def plot_pareto(frame: Any, path: Path) -> Path:
    """Accuracy vs parameters of completed trials; the Pareto front as a highlighted line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    done = completed(frame)
    done = done[done["params"].notna()]
    ax.set_xlabel("parameters")
    ax.set_ylabel("validation accuracy")
    ax.set_title("accuracy vs parameters (Pareto front: fewer parameters, higher accuracy)")
    ax.grid(alpha=0.3)
    if not len(done):
        _note(ax, "no completed trial: nothing to plot")
        return _save(fig, path)
    front = pareto_front(frame)
    ax.scatter(done["params"], done["accuracy"], color="0.55", label="completed trial",
               **_dots(len(done)))
    ax.plot(front["params"], front["accuracy"], "-o", color="tab:red", markersize=7,
            linewidth=2, label=f"Pareto front ({len(front)})", drawstyle="steps-post")
    ax.scatter(front["params"], front["accuracy"], s=60, color="tab:red", zorder=3)
    if done["params"].min() > 0 and done["params"].max() / done["params"].min() > 20:
        ax.set_xscale("log")
    else:
        _thousands(ax)
    _legend(ax, loc="best")
    return _save(fig, path)


_LABELS = {"accuracy": "validation accuracy", "loss": "validation loss", "params": "parameters",
           "flops": "FLOPs per sample", "latency_ms": "latency at batch 1 (ms)",
           "latency_batch_ms": "latency at the training batch size (ms)"}


def objective_pairs(objectives: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every pair of objectives, in priority order (x: the later one, y: the earlier)."""
    metrics = list(objectives)
    return [(metrics[j], metrics[i]) for i in range(len(metrics))
            for j in range(i + 1, len(metrics))]


def plot_objectives(frame: Any, path: Path, objectives: Mapping[str, str]) -> Path:
    """One panel per pair of objectives: completed trials in grey, the trials non-dominated
    on all the objectives in red (each genome once; joined as a staircase when there are
    two)."""
    plt = _pyplot()
    pairs = objective_pairs(objectives)
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.4 * len(pairs), 4.8), squeeze=False)
    front = objective_front(frame, objectives)
    done = completed(frame)
    for ax, (x, y) in zip(axes.flat, pairs):
        ax.set_xlabel(f"{_LABELS.get(x, x)} ({objectives[x]})")
        ax.set_ylabel(f"{_LABELS.get(y, y)} ({objectives[y]})")
        ax.set_title(f"{y} vs {x}")
        ax.grid(alpha=0.3)
        shown = done[done[x].notna() & done[y].notna()] if {x, y} <= set(done.columns) \
            else done.iloc[0:0]
        if not len(shown):
            _note(ax, f"no completed trial with both {x} and {y}: nothing to plot")
            continue
        ax.scatter(shown[x].astype(float), shown[y].astype(float), color="0.55",
                   label="completed trial", **_dots(len(shown)))
        if len(front):
            line = front.sort_values(x, ascending=objectives[x] == "min")
            style = "-o" if len(pairs) == 1 else "o"
            ax.plot(line[x].astype(float), line[y].astype(float), style, color="tab:red",
                    markersize=7, linewidth=2, label=f"Pareto front ({len(front)})",
                    drawstyle="steps-post" if len(pairs) == 1 else "default")
        if x in ("params", "flops"):
            _thousands(ax)
        _legend(ax, loc="best")
    fig.suptitle("Pareto front: " + ", ".join(f"{m} ({d})" for m, d in objectives.items()))
    return _save(fig, path)


def plot_hypervolume(frame: Any, path: Path, objectives: Mapping[str, str]) -> Path:
    """The normalised hypervolume of the completed trials against trials proposed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.set_xlabel("trial (proposal order)")
    ax.set_ylabel("hypervolume (normalised)")
    ax.set_title("hypervolume over trials: " + ", ".join(f"{m} ({d})"
                                                          for m, d in objectives.items()))
    ax.grid(alpha=0.3)
    curve = hypervolume_curve(frame, objectives) if len(frame) else None
    if curve is None or not (curve["hypervolume"] > 0).any():
        _note(ax, "no completed trial with every objective: no hypervolume yet")
        return _save(fig, path)
    ax.step(curve["order"], curve["hypervolume"], where="post", color="tab:purple", linewidth=2)
    if len(curve) <= MAX_POINTS_MARKED:  # one dot per trial while they stay apart
        ax.scatter(curve["order"], curve["hypervolume"], s=14, color="tab:purple")
    ax.set_ylim(0, 1.02)
    return _save(fig, path)


def plot_choices(frame: Any, path: Path, info: Mapping[str, Any] | None = None,
                 top_fraction: float = TOP_FRACTION) -> Path:
    """Per key, grouped bars: share of each decision among the top trials vs all trials."""
    import numpy as np

    plt = _pyplot()
    tables = decision_frequencies(frame, info, top_fraction)
    n_trained = len(ranked(frame))
    n_top = max(1, math.ceil(top_fraction * n_trained)) if n_trained else 0
    if not tables:
        fig, ax = plt.subplots(figsize=(6, 3))
        _note(ax, "the space has no mutable keys")
        ax.set_axis_off()
        return _save(fig, path)
    ncols = min(3, len(tables))
    nrows = math.ceil(len(tables) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax, (key, table) in zip(axes.flat, tables.items()):
        x = np.arange(len(table))
        ax.bar(x - 0.2, table["all"], width=0.4, color="0.6", label=f"all trials ({len(frame)})")
        ax.bar(x + 0.2, table["top"], width=0.4, color="tab:blue",
               label=f"top {top_fraction:.0%} ({n_top})")
        labels = [_short(str(v)) for v in table.index]
        ax.set_xticks(x, labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0,
                      ha="right" if max(map(len, labels), default=0) > 6 else "center",
                      fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(key)
        ax.set_ylabel("share of trials")
        ax.grid(axis="y", alpha=0.3)
        if n_top == 0:
            _note(ax, "no completed trial: no top trials", y=0.8)
    for ax in list(axes.flat)[len(tables):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle("decisions among the top trials vs all trials")
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncols=2)
    return _save(fig, path)


def plot_curves(frame: Any, path: Path, max_curves: int = MAX_CURVES) -> Path:
    """Validation accuracy against epoch, one line per trial with a recorded curve: completed
    trials in blue, stopped ones in orange ending in a cross (where the scheduler stopped it),
    the best full-fidelity trial in red. Past ``max_curves`` curves, an even sample of them
    (by proposal order) is drawn, the best trial always, and the lines fade as they grow
    many (the title says how many are shown)."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(8, 4.8))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    best = ranked(frame)
    best_id = best.iloc[0]["trial_id"] if len(best) and \
        best.iloc[0]["status"] == Status.COMPLETED else None
    curves = _trial_curves(frame)
    shown = _even_sample(curves, max_curves, keep=best_id)
    ax.set_title("validation accuracy by epoch, every trial" if len(shown) == len(curves) else
                 f"validation accuracy by epoch, {len(shown):,} of {len(curves):,} trials "
                 f"(an even sample)")
    alpha = max(0.05, min(0.45, 40.0 / max(1, len(shown))))
    handles = []
    for status, color, label in ((Status.COMPLETED.value, "tab:blue", "completed"),
                                 (Status.STOPPED.value, "tab:orange", "stopped early")):
        group = [c for c in shown if c[1] == status]
        _draw_curves(ax, group, color, alpha, end_marker="x" if status == "stopped" else None)
        if group:  # a legend line at full strength, however faint the lines are
            handles.append(Line2D([], [], color=color, label=label))
    for trial_id, _, curve in shown:
        if trial_id == best_id:
            handles += ax.plot(range(1, len(curve) + 1), curve, "-o", color="tab:red",
                               linewidth=2, markersize=3, zorder=3,
                               label=f"best full-fidelity trial {trial_id}")
    if not curves:
        _note(ax, "no per-epoch accuracy recorded (no trial trained yet, or a run of an older "
                  "raynas)")
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.autoscale_view()
        if max(len(c) for _, _, c in curves) == 1:
            ax.set_xlim(0.5, 1.5)
        ax.legend(handles=handles, loc="lower right", fontsize=8)
    return _save(fig, path)


def _trial_curves(frame: Any) -> list[tuple[str, str, list[float]]]:
    """``(trial_id, status, curve)`` of each completed or stopped row with a recorded curve,
    in proposal order."""
    rows = frame.sort_values("order", kind="stable") if "order" in frame else frame
    cells = rows["accuracy_curve"] if "accuracy_curve" in rows else [None] * len(rows)
    out = []
    for trial_id, status, cell in zip(rows["trial_id"], rows["status"], cells):
        if status in (Status.COMPLETED.value, Status.STOPPED.value):
            curve = accuracy_curve(cell)
            if curve:
                out.append((trial_id, status, curve))
    return out


def _even_sample(items: list, limit: int, keep: Any = None) -> list:
    """At most ``limit`` items evenly spread over ``items`` (all when fewer), plus the one
    whose first field is ``keep``."""
    if len(items) <= limit:
        return items
    import numpy as np

    picked = set(np.linspace(0, len(items) - 1, limit).round().astype(int).tolist())
    return [item for i, item in enumerate(items) if i in picked or item[0] == keep]


def _draw_curves(ax: Any, curves: list[tuple[str, str, list[float]]], color: str, alpha: float,
                 end_marker: str | None) -> None:
    """All ``curves`` as one LineCollection (one-epoch curves as dots), ends marked."""
    from matplotlib.collections import LineCollection

    if not curves:
        return
    lines = [list(zip(range(1, len(c) + 1), c)) for _, _, c in curves if len(c) > 1]
    if lines:
        ax.add_collection(LineCollection(lines, colors=color, alpha=alpha, linewidths=1))
    dots = [c for _, _, c in curves if len(c) == 1]
    if dots:
        ax.scatter([1] * len(dots), [c[0] for c in dots], s=8, color=color,
                   alpha=max(alpha, 0.3))
    if end_marker:
        ax.scatter([len(c) for _, _, c in curves], [c[-1] for _, _, c in curves],
                   marker=end_marker, s=20, color=color, alpha=min(0.8, 2 * alpha))


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ HTML


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                     for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _accuracy(value: Any) -> str:
    return "" if value is None or value != value else f"{float(value):.4f}"


def _epochs(row: Any) -> str:
    """Epochs trained, marked when a scheduler stopped the trial early."""
    value = row.get("epochs")
    text = "" if value is None or value != value else str(int(value))
    return f"{text} (stopped)" if row.get("status") == Status.STOPPED else text


def _params(value: Any) -> str:
    return "" if value is None or value != value else f"{int(value):,}"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;font-size:0.9em}th{background:#f2f2f2}code,td:nth-child(2){font-family:monospace}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.note{color:#a15c00}"""


def plot_oneshot(frame: Any, path: Path) -> tuple[Path, float | None]:
    """One-shot runs: inherited-weight accuracy against retrained accuracy, one point per
    retrained genome, titled with Kendall's tau; returns the file and tau (None below two
    pairs)."""
    from raynas.results.stages import inherited_vs_retrained, kendall_tau

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.8))
    pairs = inherited_vs_retrained(frame)
    tau = kendall_tau(pairs)
    ax.set_xlabel("validation accuracy with inherited weights (supernet)")
    ax.set_ylabel("validation accuracy retrained from scratch")
    ax.set_title(f"one-shot ranking: Kendall's tau = {tau:.3f} ({len(pairs)} genomes)"
                 if tau is not None else f"one-shot ranking ({len(pairs)} genome(s))")
    ax.grid(alpha=0.3)
    if not len(pairs):
        _note(ax, "no retrained genome yet: nothing to compare")
    else:
        ax.scatter(pairs["inherited"], pairs["retrained"], s=40, color="tab:blue")
        if tau is None:
            _note(ax, "Kendall's tau needs two or more retrained genomes", y=0.9)
    return _save(fig, path), tau


def write_html(path: Path, run_dir: Path, frame: Any, info: Mapping[str, Any],
               images: Mapping[str, str], notes: Sequence[str] = (),
               refresh_seconds: float | None = None) -> Path:
    """One page: notes, counts, top trials, the plots (relative links) and the settings.

    ``refresh_seconds``: the page reloads itself that often (a meta refresh), for ``--watch``.
    """
    n = counts(frame)
    settings = dict(info.get("settings") or {})
    top = ranked_genomes(frame).head(TOP_TABLE)
    top_rows = [(rank, row["genome"], _spread(row), row["trials"], _params(row["params"]),
                 ", ".join(map(str, row["trial_ids"])))
                for rank, (_, row) in enumerate(top.iterrows(), 1)]
    parts = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        *([f"<meta http-equiv='refresh' content='{max(1, round(refresh_seconds))}'>"]
          if refresh_seconds else []),
        f"<title>raynas report: {html.escape(run_dir.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>raynas report: {html.escape(str(run_dir))}</h1>",
        *[f"<p class='note'>{html.escape(note)}</p>" for note in notes],
        "<h2>Trials</h2>",
        _table(["completed", "stopped", "failed", "rejected", "total", "planned"],
               [(n["completed"], n["stopped"], n["failed"], n["rejected"], len(frame),
                 settings.get("trials", ""))]),
        f"<h2>Top {TOP_TABLE} genomes</h2>",
        "<p>Per genome, the mean validation accuracy over its completed trials (a genome "
        "trained again with new seeds ranks by its mean, not by its luckiest seed).</p>",
        _table(["rank", "genome", "accuracy (mean ± std)", "trials", "params",
                "trial ids (best first)"], top_rows)
        if top_rows else "<p>No trial completed.</p>",
        "<h2>Best accuracy so far</h2>", f"<img src='{images['best']}' alt='best so far'>",
        *_objectives_html(frame, info, images),
        "<h2>Decisions of the top trials</h2>",
        f"<img src='{images['choices']}' alt='decision frequencies'>",
        "<h2>Validation accuracy by epoch</h2>",
        f"<img src='{images['curves']}' alt='accuracy curves'>",
        *(["<h2>Inherited weights vs retrained</h2>",
           f"<img src='{images['oneshot']}' alt='inherited vs retrained accuracy'>"]
          if "oneshot" in images else []),
        "<h2>Settings</h2>",
        _table(["setting", "value"], [(k, "" if v is None else v) for k, v in settings.items()]
               + [(label, info[k]) for k, label in (("input_shape", "input shape"),
                                                     ("num_classes", "classes"),
                                                     ("dataset", "dataset (loaded)"),
                                                     ("updated_at", "updated at")) if k in info]),
        "</body></html>",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _objectives_html(frame: Any, info: Mapping[str, Any], images: Mapping[str, str]) -> list[str]:
    objectives = run_objectives(info)
    if len(objectives) < 2:
        parts = ["<h2>Accuracy vs parameters</h2>",
                 f"<img src='{images['pareto']}' alt='Pareto front'>"]
    else:
        front = objective_front(frame, objectives)
        rows = [(i, r["trial_id"], *[format_metric(m, r[m]) for m in objectives], r["genome"])
                for i, (_, r) in enumerate(front.iterrows(), 1)]
        parts = [f"<h2>Pareto front ({html.escape(', '.join(f'{m} {d}' for m, d in objectives.items()))})</h2>",
                 f"<img src='{images['pareto']}' alt='Pareto front'>",
                 _table(["#", "trial id", *objectives, "genome"], rows)]
    return parts + ["<h2>Hypervolume over trials</h2>",
                    f"<img src='{images['hv']}' alt='hypervolume over trials'>"]


# ------------------------------------------------------------------ the report


@dataclass
class Report:
    """What :func:`build_report` wrote and found."""

    run_dir: Path
    out: Path
    files: dict[str, Path]
    counts: dict[str, int]
    total: int
    planned: int | None
    best: dict[str, Any] | None
    in_progress: bool
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    objectives: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECTIVES))
    front: Any = None          # non-dominated completed rows (several objectives), best first
    hypervolume: float | None = None  # normalised, of every completed trial


def build_report(run_dir: str | Path, out: str | Path | None = None,
                 refresh_seconds: float | None = None) -> Report:
    """Write the plots and ``index.html`` of the run in ``run_dir``; see the module docstring.

    ``refresh_seconds``: make the page reload itself that often (see :mod:`.watch`).

    Raises :class:`ResultsError` when ``run_dir`` holds no readable results.
    """
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    frame = read_trials(run_dir)
    run_info = run.read_info()  # a folder that is not a run is an error, before writing
    notes: list[str] = []
    info = run_info.model_dump(exclude_none=True)
    out = Path(out) if out is not None else run_dir / "report"
    check_writable(out, "the report folder")
    in_progress = run.is_being_written()
    # a one-shot run's count is its candidates plus its retrained genomes, not evolve's --trials
    planned = None if is_oneshot_run(frame) else run_info.settings.get("trials")
    if in_progress:
        notes.append(f"run in progress: {len(frame)}"
                     + (f" of {planned}" if planned else "")
                     + " trials finished so far")
    n = counts(frame)
    size = _space_size(info)
    if size is not None and len(frame) > size and frame["genome"].nunique() >= size:
        notes.append(f"every genome of the space ({size}) was tried; {len(frame) - size} "
                     f"trial(s) trained known genomes again, with new seeds")
    if planned and len(frame) < planned and not in_progress:
        notes.append(f"the run stopped before its {planned} trials; `raynas evolve --resume "
                     f"{run_dir}` continues it")
    if len(frame) == 0:
        notes.append("no trial has finished yet")
    elif n["completed"] == 0:
        notes.append(f"no trial completed: {n['failed']} failed, {n['rejected']} rejected; "
                     f"see the error column (pandas.read_parquet('{run_dir}/trials'))")
    objectives = run_objectives(run_info)
    several = len(objectives) > 1
    files = {
        "best": plot_best(frame, out / "best.png"),
        "pareto": plot_objectives(frame, out / "pareto.png", objectives) if several
        else plot_pareto(frame, out / "pareto.png"),
        "hv": plot_hypervolume(frame, out / "hv.png", objectives),
        "choices": plot_choices(frame, out / "choices.png", info),
        "curves": plot_curves(frame, out / "curves.png"),
    }
    if is_oneshot_run(frame):
        files["oneshot"], tau = plot_oneshot(frame, out / "oneshot.png")
        if tau is not None:
            notes.append(f"one-shot run: Kendall's tau between inherited-weight and retrained "
                         f"accuracy {tau:.3f} over {len(inherited_vs_retrained(frame))} genomes")
    curve = hypervolume_curve(frame, objectives) if len(frame) else None
    files["html"] = write_html(out / "index.html", run_dir, frame, info,
                               {k: p.name for k, p in files.items()}, notes,
                               refresh_seconds)
    best = ranked_genomes(frame)
    return Report(run_dir=run_dir, out=out, files=files, counts=n, total=len(frame),
                  planned=planned, best=best.iloc[0].to_dict() if len(best) else None,
                  in_progress=in_progress, settings=dict(run_info.settings),
                  notes=notes, objectives=objectives,
                  front=objective_front(frame, objectives) if several else None,
                  hypervolume=float(curve["hypervolume"].iloc[-1]) if curve is not None else None)


def _spread(row: Mapping[str, Any]) -> str:
    """A genome's mean accuracy, with its spread when it trained more than once."""
    if row["trials"] > 1:
        return (f"{_accuracy(row['accuracy'])} ± {row['accuracy_std']:.4f} (mean of "
                f"{row['trials']} trials of its genome, {_accuracy(row['accuracy_min'])}.."
                f"{_accuracy(row['accuracy_max'])})")
    return _accuracy(row["accuracy"])


def _space_size(info: Mapping[str, Any]) -> int | None:
    from raynas.core.space import SearchSpace

    try:
        return SearchSpace.from_dict(info["space"]).size
    except (KeyError, TypeError, ValueError):
        return None


def summary_lines(report: Report) -> list[str]:
    """The terminal summary: counts, the best trial and its genome, where the report is."""
    n = report.counts
    planned = f" of {report.planned}" if report.planned else ""
    s = report.settings
    keys = ("space", "dataset", "strategy") + (
        ("supernet_epochs", "candidates", "retrain_epochs") if "candidates" in s else ("epochs",))
    described = ", ".join(f"{k.replace('_', ' ')} {s[k]}" for k in keys if s.get(k) is not None)
    lines = [f"run: {report.run_dir}" + (f" ({described})" if described else "")]
    stopped = f"stopped {n['stopped']}, " if n.get("stopped") else ""
    lines += [f"trials: {report.total}{planned} (completed {n['completed']}, {stopped}failed "
             f"{n['failed']}, rejected {n['rejected']})"]
    lines += report.notes
    if report.best is not None:
        b = report.best
        partial = "" if b.get("status") == Status.COMPLETED else \
            f" after {_epochs(b)} epochs: no trial trained fully"
        lines.append(f"best: trial {b['trial_id']}, accuracy {_spread(b)}{partial}, "
                     f"params {_params(b['params'])}")
        lines.append(f"  genome: {b['genome']}")
    if report.front is not None:
        lines.append(f"Pareto front ({len(report.front)} genome(s); "
                     + ", ".join(f"{m} {d}" for m, d in report.objectives.items())
                     + (f"; normalised hypervolume {report.hypervolume:.4f}"
                        if report.hypervolume is not None else "") + "):")
        lines += front_lines(report.front, report.objectives)
    lines.append(f"report: {report.files['html']}")
    return lines
