"""``python -m raynas.bench.ask_tell``: a strategy's own cost per ask+tell, by rounds."""

import pytest

from raynas.bench.ask_tell import main, measure
from raynas.core.space import SearchSpace
import raynas.spaces


def test_rounds_print_the_medians_and_the_range_of_the_means(capsys):
    main(["--space", "tiny", "--told", "20", "--pairs", "5", "--objectives", "1,2",
          "--rounds", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "medians of 2 rounds" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == [("1", "20"), ("2", "20")]
    for row in rows:
        low, high = (float(v) for v in row[6].split("-"))
        assert 0 < low <= float(row[2]) <= high  # the median of two means lies between them


def test_measure_gives_positive_figures_and_rounds_must_be_positive(capsys):
    space = SearchSpace.from_model(raynas.spaces.get("tiny"))
    figures = measure(space, "evolution", 3, told=30, pairs=5)
    assert set(figures) == {"mean_us", "median_us", "p95_us", "replay_s"}
    assert figures["mean_us"] > 0 and figures["p95_us"] >= figures["median_us"] > 0
    with pytest.raises(SystemExit):
        main(["--rounds", "0"])
    assert "--rounds must be >= 1" in capsys.readouterr().err
