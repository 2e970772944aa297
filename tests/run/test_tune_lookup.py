"""Tune's trainable lookup is made once per fit (``raynas.run.tune_lookup``), on a real Ray."""

import pytest
import ray
from ray import tune
from ray.tune.error import TuneError
from ray.tune.experiment import trial as trial_module
from ray.tune.registry import TRAINABLE_CLASS, _global_registry

from raynas.results.store import Status, read_trials
from raynas.run.driver import evolve
from raynas.run.settings import EvolveSettings
from raynas.run.tune_lookup import memoized_trainable_lookup


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, address="local", log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def _trainable(config):
    tune.report({"value": 1.0})


@pytest.fixture
def registry_gets(monkeypatch):
    """The trainable names looked up in Tune's registry, loaded or checked (each a GCS
    round trip)."""
    names = []
    for method in ("get", "contains"):
        original = getattr(_global_registry, method)

        def counted(category, key, original=original):
            if category == TRAINABLE_CLASS:
                names.append(key)
            return original(category, key)

        monkeypatch.setattr(_global_registry, method, counted)
    return names


def test_a_name_is_looked_up_once_inside_the_block_and_tunes_function_is_back_after(
        registry_gets):
    tune.register_trainable("raynas_lookup_test", _trainable)
    original = trial_module.get_trainable_cls, trial_module.validate_trainable
    with memoized_trainable_lookup():
        first = trial_module.get_trainable_cls("raynas_lookup_test")
        again = trial_module.get_trainable_cls("raynas_lookup_test")
        assert again is first
        trial_module.validate_trainable("raynas_lookup_test")
        trial_module.validate_trainable("raynas_lookup_test")
        # one load (a check and a get) and one check
        assert registry_gets == ["raynas_lookup_test"] * 3
        for _ in range(2):  # errors are not memoized
            with pytest.raises(TuneError, match="Unknown trainable"):
                trial_module.get_trainable_cls("raynas_no_such_trainable")
            with pytest.raises(TuneError, match="Unknown trainable"):
                trial_module.validate_trainable("raynas_no_such_trainable")
        del registry_gets[:]
    assert (trial_module.get_trainable_cls, trial_module.validate_trainable) == original
    assert trial_module.get_trainable_cls("raynas_lookup_test").__name__ == first.__name__
    trial_module.validate_trainable("raynas_lookup_test")
    assert registry_gets == ["raynas_lookup_test"] * 3


def test_tunes_function_is_back_after_an_error_in_the_block():
    original = trial_module.get_trainable_cls, trial_module.validate_trainable
    with pytest.raises(RuntimeError):
        with memoized_trainable_lookup():
            raise RuntimeError("a fit that failed")
    assert (trial_module.get_trainable_cls, trial_module.validate_trainable) == original


@pytest.mark.slow  # two real fits
def test_a_run_looks_its_trainable_up_a_few_times_per_fit_not_twice_per_trial(
        tmp_path, registry_gets):
    settings = EvolveSettings(space="raynas.bench.overhead:TinyNet", dataset="digits",
                              strategy="random", trials=16, epochs=1, max_batches_per_epoch=1,
                              limit=64, cpus_per_trial=1, out=str(tmp_path / "run"))
    evolve(settings, quiet=True, segment_trials=8)
    rows = read_trials(tmp_path / "run")
    assert len(rows) == 16 and set(rows["status"]) == {Status.COMPLETED}
    # Tune itself looks the trainable up when a fit starts, the memo once per fit; without
    # the memo it is 3 to 5 GCS round trips per trial (over 40 here)
    assert 2 <= len(registry_gets) <= 2 * 6
