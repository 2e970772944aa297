"""A real multi-node Ray cluster on this machine: trials spread over nodes, a node dies.

The head and a worker are separate Ray nodes (``ray.cluster_utils.Cluster`` starts their
own GCS/raylet processes); ``raynas evolve --address`` runs as a separate process, as a
user would run it after ``ray up``.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from ray.cluster_utils import Cluster

from raynas.results.store import read_trials

pytestmark = pytest.mark.slow  # a multi-node Ray cluster

RAYNAS = str(Path(sys.executable).parent / "raynas")
SPACE_FILE = '''
import torch.nn as nn
from raynas import LayerChoice


class SmallNet(nn.Module):
    input_shape = (1, 16, 16)
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.conv = LayerChoice({"k3": nn.Conv2d(1, 16, 3, padding=1),
                                 "k5": nn.Conv2d(1, 16, 5, padding=2),
                                 "k1": nn.Conv2d(1, 16, 1)})
        self.act = LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh(), "gelu": nn.GELU()})
        self.head = LayerChoice({"linear": nn.Linear(16 * 8 * 8, 10),
                                 "mlp": nn.Sequential(nn.Linear(16 * 8 * 8, 32), nn.ReLU(),
                                                      nn.Linear(32, 10))})
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.head(self.pool(self.act(self.conv(x))).flatten(1))
'''


@pytest.fixture
def cluster():
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


def run_evolve(address, out, tmp_path, *extra, background=False):
    space = tmp_path / "user_space.py"
    space.write_text(SPACE_FILE)
    args = [RAYNAS, "evolve", "--address", address, "--space", f"{space}:SmallNet",
            "--strategy", "random", "--epochs", "4", "--cpus-per-trial", "1",
            "--max-concurrent", "2", "--out", str(out), "-q", *map(str, extra)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    if background:
        return subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_trials_run_on_every_node_and_survive_a_node_loss(cluster, tmp_path):
    cluster, worker = cluster
    out = tmp_path / "run"
    process = run_evolve(cluster.address, out, tmp_path, "--trials", "8", "--seed", "1",
                         background=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            rows = read_trials(out) if (out / "trials").exists() else None
            if rows is not None and len(rows) >= 2 and rows["node"].nunique() == 2:
                break
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.1)
        else:
            pytest.fail("no trials finished in time")
        before = read_trials(out)  # trials ran on both nodes
        cluster.remove_node(worker)  # the worker node dies with whatever ran on it
        output, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    frame = pd.read_parquet(out / "trials")
    assert len(frame) == 8 and frame["trial_id"].is_unique
    assert set(before["trial_id"]) <= set(frame["trial_id"])  # nothing finished was lost
    assert set(frame["status"]) <= {"completed", "failed"}
    failed = frame[frame["status"] == "failed"]
    assert failed["error"].str.contains("lost|died|Actor|node", case=False).all(), failed["error"].tolist()
