"""Issue 17 in the run: GPUs that cannot exist (1), unwritable --out/--resume and a lost write
mid-run (2), the private local Ray (7), the trial's thread count (8), the lock-loser message and
the YAML key suggestion (10), genomes that always fail are not retrained (6), the README (11)."""

import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from raynas.cli.main import main
from raynas.run.ray_session import gpu_shortfall

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="raynas")


# ---------------------------------------------------------------- (1) GPUs that cannot exist


def test_gpu_message_local_ray_without_gpu_is_fatal():
    fatal, message = gpu_shortfall(0.25, {"CPU": 2.0}, None, None)
    assert fatal and "--gpus-per-trial 0.25" in message and "local Ray has none" in message


def test_gpu_message_cluster_without_autoscaler_is_fatal():
    fatal, message = gpu_shortfall(1, {"CPU": 8.0}, "auto", None)
    assert fatal and "no autoscaler" in message


def test_gpu_message_cluster_whose_autoscaler_can_add_a_gpu_node_waits():
    types = {"cpu_worker": {"CPU": 4}, "gpu_worker": {"CPU": 8, "GPU": 1}}
    fatal, message = gpu_shortfall(0.25, {"CPU": 8.0}, "auto", types)
    assert not fatal and "waiting for a GPU" in message and "gpu_worker (GPU 1)" in message
    assert "cpu_worker" not in message
    fatal, message = gpu_shortfall(0.25, {"CPU": 8.0}, "auto", {"cpu_worker": {"CPU": 4}})
    assert fatal and "have no GPU" in message
    assert gpu_shortfall(0.25, {"CPU": 8.0, "GPU": 1.0}, "auto", None) is None
    assert gpu_shortfall(0, {"CPU": 8.0}, None, None) is None


def test_autoscaler_node_types_come_from_the_ray_up_bootstrap_config(tmp_path):
    from raynas.run.ray_session import autoscaler_node_types

    assert autoscaler_node_types(str(tmp_path / "none.yaml")) is None
    config = tmp_path / "ray_bootstrap_config.yaml"
    config.write_text("available_node_types:\n  head: {resources: {CPU: 4}}\n"
                      "  gpu_worker: {resources: {CPU: 8, GPU: 1}, max_workers: 2}\n")
    assert autoscaler_node_types(str(config)) == {"head": {"CPU": 4},
                                                  "gpu_worker": {"CPU": 8, "GPU": 1}}


@pytest.mark.slow  # starts a real local Ray without GPUs
def test_evolve_with_gpus_on_a_ray_without_gpu_fails_at_once(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "raynas"), "evolve", "--gpus-per-trial", "0.25",
         "--trials", "2", "--epochs", "1", "--limit", "200", "--num-cpus", "2", "--num-gpus",
         "0", "--out", tmp_path / "run", "-q"], capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "local Ray has none" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # a real multi-node Ray cluster (ray.cluster_utils) whose nodes lack GPUs
def test_evolve_on_a_cluster_without_gpu_nor_autoscaler_fails_at_once(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    cluster.add_node(num_cpus=1, num_gpus=0)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "raynas"), "evolve", "--address", cluster.address,
             "--gpus-per-trial", "1", "--trials", "2", "--epochs", "1", "--limit", "200",
             "--out", tmp_path / "run", "-q"], capture_output=True, text=True, timeout=240)
    finally:
        cluster.shutdown()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no autoscaler" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- (2) unwritable places

UNWRITABLE = "/sys/raynas-unwritable"


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_unwritable_out_and_resume_fail_before_any_work(flag):
    result = cli("evolve", flag, UNWRITABLE, "--trials", "1")
    assert result.exit_code == 2
    assert UNWRITABLE in result.stderr and "not writable" in result.stderr \
        or "not a raynas run folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_losing_write_access_mid_run_is_one_clear_error(tmp_path):
    """The writer in a process whose file-size limit is hit mid-run (EFBIG: a full quota)."""
    script = textwrap.dedent(f"""
        import resource, signal
        from datetime import datetime, timezone
        from raynas.results.store import ResultsWriter, ResultsError, make_row
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        writer = ResultsWriter({str(tmp_path)!r}, ["op"], flush_interval=3600)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))
        now = datetime.now(timezone.utc)
        try:
            for i in range(1, 100):
                writer.add(make_row(["op"], {{"op": "a"}}, trial_id=f"t{{i}}", order=i,
                                    status="completed", accuracy=0.5, started_at=now,
                                    finished_at=now, error="x" * 200))
        except ResultsError as err:
            print("ERROR", err)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert f"ERROR cannot write {tmp_path}/" in result.stdout
    assert "File too large" in result.stdout and f"--resume {tmp_path}`" in result.stdout


# ---------------------------------------------------------------- (7) a private local Ray


def test_without_address_a_private_local_ray_is_started(monkeypatch):
    import ray

    from raynas.run.ray_session import ray_session
    from raynas.run.settings import EvolveSettings

    seen = {}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: seen.update(options))
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with ray_session(EvolveSettings(num_cpus=2), {}):
        pass
    assert seen["address"] == "local" and seen["num_cpus"] == 2


# ---------------------------------------------------------------- (8) the thread count


def test_train_run_uses_the_trials_thread_count(tmp_path):
    from raynas.analysis.retrain import TrainSettings, retrain_inputs
    from raynas.results.store import ResultsWriter, make_row, write_run_info
    from raynas.run.settings import trial_threads

    run = tmp_path / "run"
    write_run_info(run, {"settings": {"space": "mnist", "dataset": "digits", "seed": 0,
                                      "cpus_per_trial": 1.0}})
    writer = ResultsWriter(run, ["conv1", "skipcon"])
    writer.add(make_row(["conv1", "skipcon"], {"conv1": "0", "skipcon": []}, trial_id="t1",
                        order=1, status="completed", accuracy=0.9))
    writer.close()
    kwargs, _, _ = retrain_inputs(None, run, None, TrainSettings(epochs=1))
    assert kwargs["threads"] == trial_threads(1.0) == 1
    kwargs, _, _ = retrain_inputs(None, run, None, TrainSettings(epochs=1, threads=3))
    assert kwargs["threads"] == 3


# ---------------------------------------------------------------- (10) smaller


def test_lock_loser_on_a_fresh_run_does_not_speak_of_resuming(tmp_path):
    from raynas.results.run_dir import RunDir
    from raynas.results.store import ResultsError

    holder = RunDir(tmp_path).acquire_writer_lock()
    try:
        with pytest.raises(ResultsError) as fresh:
            RunDir(tmp_path).acquire_writer_lock(resume=False)
        with pytest.raises(ResultsError, match="before resuming it"):
            RunDir(tmp_path).acquire_writer_lock(resume=True)
    finally:
        holder.release()
    assert "resum" not in str(fresh.value) and "another --out" in str(fresh.value)


def test_unknown_yaml_key_suggests_the_nearest(tmp_path):
    config = tmp_path / "x.yaml"
    config.write_text("max_paramz: 100\n")
    result = cli("evolve", "-c", config)
    assert result.exit_code == 2
    assert "max_paramz: unknown setting; did you mean 'max_params'?" in result.stderr


# ---------------------------------------------------------------- (6) deterministic failures


def test_a_genome_that_always_failed_is_not_reevaluated():
    import raynas.strategies
    from raynas.core.space import SearchSpace

    space = SearchSpace.from_dict({"format": "raynas.core.space/1", "dimensions": [
        {"key": "op", "kind": "layer", "choices": ["a", "b"], "n_chosen": None}]})
    strategy = raynas.strategies.get("random")(space, seed=0)
    strategy.tell({"op": "a"}, None)  # failed (a shape error: it would fail again)
    strategy.tell({"op": "b"}, 0.9)
    assert {strategy.reevaluate()["op"] for _ in range(20)} == {"b"}
    only_failed = raynas.strategies.get("random")(space, seed=0)
    only_failed.tell({"op": "a"}, None)
    with pytest.raises(StopIteration, match="failed each time"):
        only_failed.reevaluate()


# ---------------------------------------------------------------- (11) the README


def test_readme_keeps_its_first_command_and_shows_the_cpu_only_install():
    readme = (ROOT / "README.md").read_text()
    first = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert first == "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/raynas evolve"
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    for fact in ("ray stop", "RAY_AUTH_MODE=token", "SIGKILL", "raynas repair"):
        assert fact in readme
