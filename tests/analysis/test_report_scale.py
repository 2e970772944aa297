"""Issue 16: the report of a run of thousands of trials stays quick and readable."""

import json
import time

import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from raynas.analysis import report


def curve_frame(n):
    """``n`` rows: completed ones with a 6-epoch curve, every tenth stopped after 3 epochs."""
    rows = []
    for i in range(n):
        stopped = i % 10 == 0
        final = 0.5 + (i * 37 % 400) / 1000
        curve = [round(final * e / 6, 4) for e in range(1, 4 if stopped else 7)]
        rows.append({"trial_id": f"t{i:05d}", "order": i + 1,
                     "status": "stopped" if stopped else "completed", "accuracy": curve[-1],
                     "params": 1000 + i, "epochs": len(curve), "genome": json.dumps({"op": str(i)}),
                     "accuracy_curve": json.dumps(curve)})
    return pd.DataFrame(rows)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, kept open for inspection."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return path

    monkeypatch.setattr(report, "_save", keep)
    yield figures
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def curve_count(ax):
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def test_thousands_of_curves_are_sampled_with_a_short_legend(tmp_path, drawn):
    frame = curve_frame(3000)
    report.plot_curves(frame, tmp_path / "curves.png")
    ax = drawn[0].axes[0]
    best = report.ranked(frame).iloc[0]["trial_id"]
    assert curve_count(ax) <= report.MAX_CURVES + 1
    assert "of 3,000 trials" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["completed", "stopped early", f"best full-fidelity trial {best}"]
    assert len(ax.lines) == 1 and len(ax.texts) == 0  # one highlighted line, no annotations


def test_a_few_curves_are_all_drawn(tmp_path, drawn):
    report.plot_curves(curve_frame(30), tmp_path / "curves.png")
    ax = drawn[0].axes[0]
    assert curve_count(ax) == 30 and ax.get_title() == "validation accuracy by epoch, every trial"


def test_scatter_points_fade_as_they_grow_many(tmp_path, drawn):
    report.plot_pareto(curve_frame(30), tmp_path / "few.png")
    report.plot_pareto(curve_frame(3000), tmp_path / "many.png")
    few, many = (fig.axes[0].collections[0] for fig in drawn)
    assert many.get_alpha() < few.get_alpha() and many.get_sizes()[0] < few.get_sizes()[0]


@pytest.mark.slow  # writes 3,000 rows through the real writer, then every plot (~10 s)
def test_report_of_a_3000_trial_run(tmp_path, check_png):
    from raynas.bench.results_scale import synthesize_run

    run = tmp_path / "run"
    synthesize_run(run, 3000)
    began = time.perf_counter()
    built = report.build_report(run)
    assert time.perf_counter() - began < 60
    assert built.total == 3000
    for name in ("best.png", "pareto.png", "hv.png", "choices.png", "curves.png"):
        check_png(run / "report" / name)
    page = (run / "report" / "index.html").read_text()
    assert page.count("<tr>") < 60  # the top 10, counts and settings: no row per trial
