"""The Tune Searcher adapter over real strategies (called as Tune calls it)."""

from ray.tune.search import Searcher

import raynas.strategies
from raynas import Dimension, SearchSpace
from raynas.run.searcher import StrategySearcher

SPACE = SearchSpace([Dimension("op", "layer", ("a", "b", "c")),
                     Dimension("skip", "input", ("x", "y"))])


def searcher(strategy="random", total=5, **kwargs):
    return StrategySearcher(raynas.strategies.get(strategy)(SPACE, seed=0), SPACE, total=total,
                            **kwargs)


def test_proposes_total_trials_then_finishes():
    s = searcher(total=3)
    configs = [s.suggest(f"t{i}") for i in range(3)]
    assert [c["order"] for c in configs] == [1, 2, 3]
    assert all(SPACE.validate(c["genome"]) == c["genome"] for c in configs)
    assert s.suggest("t3") == Searcher.FINISHED


def test_results_reach_the_strategy_and_failures_count_as_none():
    s = searcher(strategy="evolution", total=6)
    first = s.suggest("t0")
    s.on_trial_complete("t0", {"status": "completed", "accuracy": 0.8})
    second = s.suggest("t1")
    s.on_trial_complete("t1", {"status": "failed", "accuracy": None})
    history = s.strategy.history
    assert [v for _, v in history] == [0.8, None]
    assert [g for g, _ in history] == [first["genome"], second["genome"]]


def test_rejected_genomes_are_recorded_and_replaced():
    rejected = []
    s = searcher(total=6, screen=lambda g: ("too big", 99) if g["op"] == "c" else None,
                 on_rejected=lambda g, order, parent, reason, params: rejected.append((g, order)))
    configs = []
    for i in range(6):
        config = s.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            break
        configs.append(config)
    assert all(c["genome"]["op"] != "c" for c in configs)
    assert all(g["op"] == "c" for g, _ in rejected)
    orders = sorted([c["order"] for c in configs] + [o for _, o in rejected])
    assert orders == list(range(1, len(orders) + 1)) and len(orders) == 6


def test_an_exhausted_space_re_evaluates_known_genomes_up_to_total():
    s = searcher(total=20)  # the space has 12 genomes
    first = [s.suggest(f"t{i}") for i in range(12)]
    assert len({SearchSpace.genome_id(c["genome"]) for c in first}) == 12
    assert s.suggest("t12") is None  # results pending: the strategy may still propose
    for i in range(12):
        s.on_trial_complete(f"t{i}", {"status": "completed", "accuracy": i / 12})
    again = [s.suggest(f"t{i}") for i in range(12, 20)]
    assert s.lineage.exhausted and s.lineage.reevaluated == 8
    assert all(SPACE.validate(c["genome"]) == c["genome"] for c in again)
    assert [c["order"] for c in again] == list(range(13, 21))
    assert len({c["trial_seed"] for c in first + again}) == 20  # each trial its own seed
    assert all(c["parent_trial_id"] is None for c in again)
    assert s.suggest("t20") == Searcher.FINISHED


def test_parent_trial_ids_point_at_earlier_trials():
    space = SearchSpace([Dimension(f"k{i}", "layer", ("a", "b", "c", "d")) for i in range(4)])
    s = StrategySearcher(raynas.strategies.get("evolution")(space, seed=0, budget=40), space,
                         total=40)
    parents = []
    for i in range(40):
        config = s.suggest(f"t{i}")
        if not isinstance(config, dict):
            break
        parents.append(config["parent_trial_id"])
        score = sum(config["genome"][f"k{j}"] == "a" for j in range(4)) / 4
        s.on_trial_complete(f"t{i}", {"status": "completed", "accuracy": score})
    known = {f"t{i}" for i in range(40)}
    assert all(p is None or p in known for p in parents)
    assert any(p is not None for p in parents)  # mutants name their parent


def test_save_and_restore_round_trip(tmp_path):
    s = searcher(strategy="evolution", total=10)
    for i in range(4):
        s.suggest(f"t{i}")
        s.on_trial_complete(f"t{i}", {"status": "completed", "accuracy": i / 4})
    s.suggest("t4")
    s.save(str(tmp_path / "state.pkl"))
    other = searcher(strategy="evolution", total=10)
    other.restore(str(tmp_path / "state.pkl"))
    assert other.next_order == s.next_order and set(other.pending) == {"t4"}
    assert other.suggest("t5") == s.suggest("t5")


def test_pickles_without_driver_hooks():
    import pickle

    s = searcher(screen=lambda g: None, on_rejected=lambda *a: None)
    clone = pickle.loads(pickle.dumps(s))
    assert clone.screen is None and clone.on_rejected is None and clone.total == s.total


def test_a_resumed_run_counts_proposals_not_orders():
    # rows 1, 2 and 4 were recorded; 3 was lost in flight: 7 more make 10 rows
    s = searcher(total=7, first_order=5)
    configs = [s.suggest(f"t{i}") for i in range(7)]
    assert [c["order"] for c in configs] == list(range(5, 12))
    assert s.suggest("t7") == Searcher.FINISHED


def test_a_segment_caps_tune_trials_and_the_next_one_continues_the_numbering():
    rejected = []
    space = SearchSpace([Dimension(f"k{i}", "layer", ("a", "b", "c", "d")) for i in range(4)])
    s = StrategySearcher(raynas.strategies.get("evolution")(space, seed=0, population_size=6,
                                                           sample_size=3, model=None), space,
                         total=30, screen=lambda g: ("big", 9) if g["k0"] == "d" else None,
                         on_rejected=lambda g, order, parent, reason, params:
                         rejected.append(order))
    configs, segments = [], 0
    while not s.finished:
        s.begin_segment(4)
        segments += 1
        ids = []
        while isinstance(config := s.suggest(f"s{segments}t{len(ids)}"), dict):
            ids.append(f"s{segments}t{len(ids)}")
            configs.append(config)
        assert config == Searcher.FINISHED and s.segment_done
        assert len(ids) <= 4  # rejected genomes are rows, not Tune trials: not counted
        for trial_id, c in zip(ids, configs[len(configs) - len(ids):]):
            score = sum(c["genome"][f"k{j}"] == "a" for j in range(4)) / 4
            s.on_trial_complete(trial_id, {"status": "completed", "accuracy": score})
        assert not s.pending
    assert segments == len(configs) // 4 + (len(configs) % 4 > 0) and segments >= 5
    orders = sorted([c["order"] for c in configs] + rejected)
    assert orders == list(range(1, 31))  # one numbering across the segments
    earlier = {f"s{k}t{i}" for k in range(1, segments + 1) for i in range(4)}
    parents = [c["parent_trial_id"] for c in configs if c["parent_trial_id"]]
    assert parents and set(parents) <= earlier
    assert len({p.split("t")[0] for p in parents}) > 1  # parents from several segments


def test_a_segment_cut_short_is_not_done():
    s = searcher(total=10)
    s.begin_segment(5)
    s.suggest("t0")
    assert not s.segment_done and not s.finished and s.pending
