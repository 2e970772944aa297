"""The evaluator actors and the search loop on a real local Ray: actors agree with fixing the
genome, rows carry stage=oneshot, the same seed gives the same genomes."""

import json

import pytest
import torch

from raynas import fix
from raynas.oneshot import (EvaluatorPool, make_eval_data, recalibrate_batchnorm, sample_path,
                            search_inherited)
from raynas.results.store import ResultsWriter, read_trials
from raynas.train.loop import evaluate


@pytest.fixture(scope="module")
def pool(ray_local, tiny_cls, trained_weights, digits):
    data = make_eval_data(digits, bn_batches=2, bn_batch_size=64)
    with EvaluatorPool(tiny_cls, trained_weights, data, num_actors=2) as p:
        yield p, data


def test_actors_give_the_accuracy_of_the_fixed_genome(pool, tiny_cls, tiny_space,
                                                      trained_weights):
    evaluators, data = pool
    genomes = [sample_path(tiny_space, 5, step) for step in range(6)]
    results = evaluators.evaluate(genomes, batch=2)
    assert len(results) == 6
    nodes = set()
    for genome, result in zip(genomes, results):
        assert "error" not in result, result
        net = tiny_cls()
        net.load_state_dict(trained_weights)
        fixed = fix(net, genome)
        torch.manual_seed(0)
        recalibrate_batchnorm(fixed, data.bn_batches)
        accuracy, loss = evaluate(fixed, data.valid_x, data.valid_y, mean=data.mean, std=data.std)
        assert result["accuracy"] == accuracy
        assert result["loss"] == pytest.approx(loss, rel=1e-5)
        assert result["params"] == sum(p.numel() for p in fixed.parameters())
        nodes.add(result["node"])
    assert nodes and all(nodes)


def test_search_rows_have_stage_oneshot_and_the_same_seed_gives_the_same_genomes(
        pool, tiny_space, tmp_path):
    evaluators, _ = pool
    writer = ResultsWriter(tmp_path, tiny_space.keys)
    first = search_inherited(tiny_space, evaluators, candidates=24, strategy="evolution", seed=1,
                             strategy_options={"population_size": 8, "sample_size": 3},
                             on_row=writer.add, epochs=3)
    writer.close()
    rows = read_trials(tmp_path)
    assert len(rows) == 24 and list(rows["order"]) == list(range(1, 25))
    assert set(rows["stage"]) == {"oneshot"} and set(rows["status"]) == {"completed"}
    assert rows["accuracy"].between(0, 1).all() and (rows["epochs"] == 3).all()
    parents = rows["parent_trial_id"].dropna()
    assert len(parents) > 0 and parents.isin(rows["trial_id"]).all()  # mutations of earlier rows
    assert first.best["accuracy"] == rows["accuracy"].max()
    assert first.candidates_per_second > 0
    again = search_inherited(tiny_space, evaluators, candidates=24, strategy="evolution", seed=1,
                             strategy_options={"population_size": 8, "sample_size": 3})
    assert [r["genome"] for r in again.rows] == list(rows["genome"])
    assert [r["accuracy"] for r in again.rows] == list(rows["accuracy"])
    assert all(tiny_space.validate(json.loads(g)) for g in rows["genome"])


def test_a_small_space_ends_when_every_genome_was_proposed(pool, tiny_space):
    evaluators, _ = pool
    result = search_inherited(tiny_space, evaluators, candidates=100, strategy="random", seed=0,
                              batch_size=8)
    assert result.exhausted and len(result.rows) == tiny_space.size == 72
    assert len({r["genome"] for r in result.rows}) == 72
    with pytest.raises(ValueError, match="candidates must be a positive int"):
        search_inherited(tiny_space, evaluators, candidates=0)


def test_the_search_optimises_the_objectives_given(pool, tiny_space):
    evaluators, _ = pool
    options = {"population_size": 6, "sample_size": 3}

    def search(objectives=None, candidates=20):
        return search_inherited(tiny_space, evaluators, candidates=candidates,
                                strategy="evolution", seed=2, strategy_options=options,
                                objectives=objectives)

    by_accuracy, by_params, by_loss = search(), search({"params": "min"}), search({"loss": "min"})
    assert by_params.best["params"] == min(r["params"] for r in by_params.rows)
    assert by_loss.best["loss"] == min(r["loss"] for r in by_loss.rows)
    # the strategy was told the objective: after the same random first 6, its mutations differ
    genomes = [[r["genome"] for r in found.rows] for found in (by_accuracy, by_params)]
    assert genomes[0][:6] == genomes[1][:6] and genomes[0] != genomes[1]
    two = search({"accuracy": "max", "params": "min"}, candidates=12)
    assert len(two.rows) == 12 and two.best["accuracy"] == max(r["accuracy"] for r in two.rows)
    with pytest.raises(ValueError, match="objective 'flops' is not measured with inherited"):
        search({"flops": "min"}, candidates=4)

