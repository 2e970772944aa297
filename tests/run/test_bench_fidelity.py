"""``raynas bench-fidelity``'s figures: the summary against fifo (search and retrained
accuracies), and the retraining of a best genome (from scratch, on validation + test)."""

from __future__ import annotations

import math

import pytest

from raynas.bench.fidelity import (RETRAIN_SEED_BASE, FidelityRun, Retrainer, format_runs,
                                   format_summary, retrain_runs, retrain_seed_list, summary_rows)


def _run(scheduler: str, seed: int, best: float | None, retrained: float | None = None,
         epochs: int = 100, genome: str | None = "g") -> FidelityRun:
    return FidelityRun(scheduler=scheduler, seed=seed, epochs_trained=epochs, wall_seconds=1.0,
                       best_accuracy=best, best_genome=genome, stopped=0, completed=1,
                       retrained_accuracy=retrained)


def test_fidelity_run_stays_backward_compatible() -> None:
    run = FidelityRun("fifo", 0, 10, 1.0, 0.9, "g", 0, 3)
    assert run.retrained_accuracy is None


def test_summary_retrained_gap_is_per_seed_against_fifo_median_over_seeds() -> None:
    runs = [
        _run("fifo", 0, 0.95, 0.90), _run("asha", 0, 0.93, 0.91, epochs=40),
        _run("fifo", 1, 0.96, 0.92), _run("asha", 1, 0.94, 0.89, epochs=30),
        _run("fifo", 2, 0.97, 0.80), _run("asha", 2, 0.92, 0.78, epochs=50),
        _run("fifo", 3, 0.90, 0.99), _run("asha", 3, 0.91, None, epochs=20),  # skipped
    ]
    fifo, asha = summary_rows(runs)
    assert fifo["scheduler"] == "fifo" and asha["scheduler"] == "asha"
    # per seed, fifo minus asha: -1, +3, +2 points (seed 3: asha has no retrained figure)
    assert asha["retrained_gap_points"] == pytest.approx(2.0)
    assert fifo["retrained_gap_points"] == 0.0
    assert asha["retrained"] == pytest.approx(0.89)  # median of 0.91, 0.89, 0.78
    assert fifo["retrained"] == pytest.approx(0.91)  # median of 0.90, 0.92, 0.80, 0.99
    # the existing columns are unchanged: search-best gaps 2, 2, 5, -1 -> median 2
    assert asha["gap_points"] == pytest.approx(2.0)
    assert asha["epoch_ratio"] == pytest.approx(0.35)
    table = format_summary([fifo, asha])
    assert "| retrained acc | retrained vs fifo (points) |" in table.splitlines()[0]
    assert table.splitlines()[-1].endswith("| 89.00 | -2.00 |")
    assert table.splitlines()[2].endswith("| +0.00 |")
    assert "| 78.00 |" in format_runs(runs) and format_runs(runs).splitlines()[-1].endswith("| |")


def test_summary_without_fifo_retrained_figure_of_a_seed_skips_it() -> None:
    runs = [_run("fifo", 0, 0.95, None), _run("asha", 0, 0.93, 0.91),
            _run("fifo", 1, 0.95, 0.90), _run("asha", 1, 0.93, 0.905)]
    _, asha = summary_rows(runs)
    assert asha["retrained_gap_points"] == pytest.approx(-0.5)


def test_summary_and_tables_without_retraining_are_as_before() -> None:
    runs = [_run("fifo", 0, 0.95), _run("asha", 0, 0.93, epochs=40)]
    rows = summary_rows(runs)
    assert math.isnan(rows[1]["retrained_gap_points"]) and math.isnan(rows[1]["retrained"])
    assert "retrained" not in format_summary(rows) and "retrained" not in format_runs(runs)
    assert format_summary(rows).splitlines()[-1] == \
        "| asha | 40 | 1.0 | 93.00 | 40% | -2.00 | 1 of 1 |"


class _FakeRetrainer:
    def __init__(self, figures: dict[str, float]):
        self.figures = figures

    def mean_accuracy(self, genome: str, seeds: list[int]) -> float:
        if genome == "bad":
            raise FloatingPointError("diverged")
        return self.figures[genome]


def test_retrain_runs_sets_figures_and_survives_a_failed_training() -> None:
    runs = [_run("fifo", 0, 0.9, genome="a"), _run("asha", 0, 0.9, genome="bad"),
            _run("asha", 1, None, genome=None)]
    seen, logged = [], []
    retrain_runs(runs, _FakeRetrainer({"a": 0.75}), [1000], progress=seen.append,
                 log=logged.append)
    assert [r.retrained_accuracy for r in runs] == [0.75, None, None]
    assert seen == [runs[0]] and len(logged) == 1 and "diverged" in logged[0]


def test_retrain_seeds_are_the_same_for_every_run() -> None:
    assert retrain_seed_list(3) == [RETRAIN_SEED_BASE, RETRAIN_SEED_BASE + 1,
                                    RETRAIN_SEED_BASE + 2]
    assert retrain_seed_list(0) == []


@pytest.mark.slow
def test_retrainer_trains_a_tiny_genome_on_validation_and_test() -> None:
    from raynas.core.space import SearchSpace
    from raynas.results.schema import genome_text

    retrainer = Retrainer.for_settings({"space": "tiny", "dataset": "digits", "limit": 64,
                                        "epochs": 1})
    assert retrainer.eval_images == 540 == retrainer.bundle.sizes()["valid"] + \
        retrainer.bundle.sizes()["test"]
    assert len(retrainer.bundle.train_y) == 64
    space = SearchSpace.from_model(retrainer.source.build_for_search())
    genome = genome_text(space.sample(0))
    seeds = retrain_seed_list(2)
    figure = retrainer.mean_accuracy(genome, seeds)
    assert 0 < figure <= 1
    assert retrainer.trainings == 2
    assert retrainer.mean_accuracy(genome, seeds) == figure  # cached: no training
    assert retrainer.trainings == 2
    for seed in seeds:  # every figure is a count out of 540
        assert (retrainer.cache[(genome, seed)] * 540) == pytest.approx(
            round(retrainer.cache[(genome, seed)] * 540))
    fresh = Retrainer.for_settings({"space": "tiny", "dataset": "digits", "limit": 64,
                                    "epochs": 1})
    assert fresh.accuracy(genome, seeds[0]) == retrainer.cache[(genome, seeds[0])]  # deterministic
    runs = [_run("fifo", 0, 0.5, genome=genome), _run("asha", 0, 0.4, genome=genome)]
    retrain_runs(runs, retrainer, seeds)
    assert runs[0].retrained_accuracy == runs[1].retrained_accuracy == figure
    assert retrainer.trainings == 2
