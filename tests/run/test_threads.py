"""The driver's BLAS runs on one thread (raynas.run.threads): the helper, and a real run."""

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from raynas.run.threads import single_thread_blas
from raynas.strategies.random_search import RandomSearch


def blas_threads(libraries: set[str] | None = None) -> list[int]:
    """Thread counts of the loaded BLAS libraries (only those in ``libraries`` when given)."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"
            and (libraries is None or pool["filepath"] in libraries)]


def test_single_thread_blas_limits_inside_and_restores_after():
    assert blas_threads(), "numpy's BLAS should be visible to threadpoolctl"
    with threadpool_limits(limits=2, user_api="blas"):  # meaningful on a one-core machine too
        assert set(blas_threads()) == {2}
        with single_thread_blas():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {2}


@pytest.mark.slow  # a real run on a real Ray
def test_the_strategy_asks_with_one_blas_thread_during_a_run(tmp_path, monkeypatch):
    import ray

    from raynas.run.driver import evolve
    from raynas.run.settings import EvolveSettings

    seen: list[list[int]] = []
    original = RandomSearch.ask

    def probed_ask(self):
        seen.append(blas_threads())
        return original(self)

    monkeypatch.setattr(RandomSearch, "ask", probed_ask)
    settings = EvolveSettings(space="raynas.bench.overhead:TinyNet", dataset="digits",
                              strategy="random", trials=3, epochs=1, max_batches_per_epoch=1,
                              limit=64, cpus_per_trial=1, out=str(tmp_path / "run"))
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False,
             logging_level="ERROR")
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            before = {pool["filepath"] for pool in threadpool_info()}
            summary = evolve(settings, quiet=True)
            after = blas_threads(libraries=before)
    finally:
        ray.shutdown()
    assert summary.counts.get("completed") == 3
    assert len(seen) >= 3 and all(set(threads) == {1} for threads in seen)
    assert set(after) == {2}  # the caller's setting is back once the run ends
    # (a BLAS first loaded during the run keeps its own default)
