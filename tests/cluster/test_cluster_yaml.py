"""The `ray up` cluster files in cluster/ are valid Ray cluster configs and safe.

Validation uses the installed Ray's own code and schema, the same steps that
`ray up` runs before it contacts a cloud (`ray.autoscaler._private.commands.
_bootstrap_config`): `prepare_config` (merge with the provider's defaults.yaml,
merge setup commands, fill min/max workers) then `validate_config` (jsonschema
against `ray/autoscaler/ray-schema.json` plus Ray's cross-field checks). The
file as written is also checked against ray-schema.json directly, because
defaults would otherwise hide a missing required field. These are private Ray
APIs: if a Ray upgrade moves them, this test fails loudly rather than passing
without validating anything.

No cluster is started; the whole module runs in about a second.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema  # a dependency of Ray itself; Ray's validator uses it
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO / "cluster"
YAMLS = sorted(CLUSTER_DIR.glob("*.yaml"))
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
SRC = "~/raynas-src"  # where every node gets the checkout (file_mounts)

# Ports Ray listens on that must never be reachable from the internet:
# GCS, dashboard / jobs API, Ray client, object and node manager (as fixed in
# the YAMLs), dashboard agent, and the default worker port range.
RAY_PORTS = {6379, 8265, 10001, 8076, 8077, 52365} | set(range(10002, 20000))
PUBLIC_CIDRS = {"0.0.0.0/0", "::/0"}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _load(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def _prepared(path: Path) -> dict[str, Any]:
    """The config as `ray up` sees it after merging the provider's defaults."""
    return prepare_config(_load(path))


def _schema() -> dict[str, Any]:
    with open(RAY_SCHEMA) as f:
        return json.load(f)


def _ray_start_commands(cmds: list[str]) -> list[str]:
    return [c for c in cmds if re.search(r"(^|[\s;/])ray start\b", c)]


def test_there_are_cluster_files():
    names = {p.name for p in YAMLS}
    assert {"aws.yaml", "local.yaml"} <= names, names


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_parses(path: Path):
    config = _load(path)
    assert isinstance(config, dict)
    assert config["cluster_name"]
    assert config["provider"]["type"]


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_file_as_written_matches_rays_schema(path: Path):
    jsonschema.validate(_load(path), _schema())


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_validates_like_ray_up(path: Path):
    config = _prepared(path)
    validate_config(config)  # raises on any schema or cross-field error
    assert config["head_node_type"] in config["available_node_types"]


def test_local_yaml_passes_the_whole_offline_bootstrap():
    """The local provider needs no cloud API, so run all of `ray up`'s config
    resolution (provider resource fill-in and bootstrap included)."""
    from ray.autoscaler._private.commands import _bootstrap_config

    resolved = _bootstrap_config(_load(CLUSTER_DIR / "local.yaml"), no_config_cache=True)
    node_type = resolved["available_node_types"][resolved["head_node_type"]]
    n_workers = len(resolved["provider"]["worker_ips"])
    assert node_type["min_workers"] == node_type["max_workers"] == n_workers


# A broken copy must be rejected, otherwise the tests above prove nothing.
MUTATIONS = {
    "unknown_top_level_field": lambda c: c.update(not_a_ray_field=1),
    "unknown_auth_field": lambda c: c.setdefault("auth", {}).update(ssh_passwd="x"),
    "missing_cluster_name": lambda c: c.pop("cluster_name"),
    "setup_commands_not_a_list": lambda c: c.update(setup_commands="pip install ~/raynas-src"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_broken_copy_fails_rays_schema(path: Path, mutation: str):
    broken = copy.deepcopy(_load(path))
    MUTATIONS[mutation](broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _schema())


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_broken_copy_fails_ray_up_validation(path: Path):
    broken = copy.deepcopy(_load(path))
    broken["not_a_ray_field"] = 1
    with pytest.raises(jsonschema.ValidationError, match="not_a_ray_field"):
        validate_config(prepare_config(broken))


def test_broken_aws_node_type_fails_ray_up_validation():
    broken = _load(CLUSTER_DIR / "aws.yaml")
    worker = next(
        name for name in broken["available_node_types"] if name != broken["head_node_type"]
    )
    del broken["available_node_types"][worker]["resources"]  # required per node type
    with pytest.raises(jsonschema.ValidationError, match="resources"):
        validate_config(prepare_config(broken))


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_every_node_installs_raynas_from_the_synced_checkout(path: Path):
    raw = _load(path)
    # The checkout (where `ray up` runs) is copied to every node...
    mounts = raw["file_mounts"]
    checkout = [remote for remote, local in mounts.items() if local == "."]
    assert checkout == [SRC], mounts
    # No mount at ~/raynas: a folder named like the package in the home
    # directory is an empty namespace package that shadows an installed raynas
    # for any Python with ~ on sys.path (`ray submit` runs ~/script.py).
    assert not [remote for remote in mounts if remote.rstrip("/") == "~/raynas"], mounts
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^name\s*=\s*"raynas"', pyproject, re.M)
    # ...and pip-installed there by the common setup commands, so that both
    # the head and every worker (after Ray merges setup_commands) run it.
    config = _prepared(path)
    install = re.compile(r"\bpip install\b.*\s" + re.escape(SRC) + r"(\s|$)")
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert any(install.search(c) for c in config[key]), (key, config[key])
    # A node type's own worker_setup_commands would replace the global ones.
    for name, node_type in config["available_node_types"].items():
        if "worker_setup_commands" in node_type:
            assert any(install.search(c) for c in node_type["worker_setup_commands"]), name


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_workers_join_the_heads_address(path: Path):
    config = _prepared(path)
    head_starts = _ray_start_commands(config["head_start_ray_commands"])
    assert len(head_starts) == 1, head_starts
    head_port = re.search(r"--port[= ](\d+)", head_starts[0])
    assert head_port and "--head" in head_starts[0], head_starts[0]

    worker_starts = _ray_start_commands(config["worker_start_ray_commands"])
    assert len(worker_starts) == 1, worker_starts
    address = re.search(r"--address[= ](\S+)", worker_starts[0])
    assert address, worker_starts[0]
    # RAY_HEAD_IP is exported by the autoscaler on each worker.
    assert address.group(1) == f"$RAY_HEAD_IP:{head_port.group(1)}", address.group(1)


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_dashboard_is_not_bound_to_all_interfaces(path: Path):
    # Checked after merging Ray's defaults: the AWS/GCP defaults pass
    # --dashboard-host=0.0.0.0, which must not leak in.
    config = _prepared(path)
    for cmd in _ray_start_commands(config["head_start_ray_commands"]):
        host = re.search(r"--dashboard-host[= ](\S+)", cmd)
        assert host is None or host.group(1) in {"127.0.0.1", "localhost", "::1"}, cmd


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_token_authentication_on_every_node(path: Path):
    """Every `ray start` runs with RAY_AUTH_MODE=token (set explicitly: Ray only
    turns it on by itself for `ray start --head` when a token already exists,
    and never for `ray start --address`), and every node gets the token."""
    config = _prepared(path)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        for cmd in _ray_start_commands(config[key]):
            before_start = cmd.split("ray start")[0]
            assert re.search(r"\bRAY_AUTH_MODE=token\b", before_start), (key, cmd)
    assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"


def _ingress_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["provider"].get("security_group", {}).get("IpPermissions", [])


def _rule_is_public(rule: dict[str, Any]) -> bool:
    cidrs = {r.get("CidrIp") for r in rule.get("IpRanges", [])}
    cidrs |= {r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])}
    return bool(cidrs & PUBLIC_CIDRS)


def _rule_ports(rule: dict[str, Any]) -> set[int]:
    if str(rule.get("IpProtocol")) == "-1" or "FromPort" not in rule:
        return set(range(0, 65536))
    lo, hi = int(rule["FromPort"]), int(rule["ToPort"])
    return set(range(0, 65536)) if lo == -1 else set(range(lo, hi + 1))


def test_aws_opens_no_ray_port_to_the_internet():
    config = _load(CLUSTER_DIR / "aws.yaml")
    for rule in _ingress_rules(config):
        if _rule_is_public(rule):
            assert not (_rule_ports(rule) & RAY_PORTS), rule
    # Node-level groups or interfaces would bypass the checked security group.
    for node_type in config["available_node_types"].values():
        assert "NetworkInterfaces" not in node_type["node_config"]


def test_the_port_check_catches_a_public_ray_port():
    public_gcs = {"FromPort": 6379, "ToPort": 6379, "IpProtocol": "tcp",
                  "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    vpc_only = {"FromPort": 6379, "ToPort": 6379, "IpProtocol": "tcp",
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert _rule_is_public(public_gcs) and 6379 in _rule_ports(public_gcs)
    assert not _rule_is_public(vpc_only)


def test_aws_head_runs_no_trials_and_gpu_workers_autoscale():
    config = _prepared(CLUSTER_DIR / "aws.yaml")
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers
    for worker in workers:
        assert worker["min_workers"] == 0 < worker["max_workers"] <= config["max_workers"]
        # g/p instance families carry NVIDIA GPUs.
        assert re.match(r"^(g|p)\d", worker["node_config"]["InstanceType"]), worker


def test_cluster_files_pin_the_same_ray_version():
    aws_image = _load(CLUSTER_DIR / "aws.yaml")["docker"]["image"]
    aws_version = re.search(r":(\d+\.\d+\.\d+)-", aws_image)
    local_cmds = " ".join(_load(CLUSTER_DIR / "local.yaml")["setup_commands"])
    local_version = re.search(r"ray\[[^\]]*\]==(\d+\.\d+\.\d+)", local_cmds)
    assert aws_version and local_version
    assert aws_version.group(1) == local_version.group(1)


@pytest.mark.parametrize("path", YAMLS, ids=_ids(YAMLS))
def test_commands_are_valid_shell(path: Path):
    config = _prepared(path)
    for key in ("head_setup_commands", "worker_setup_commands",
                "head_start_ray_commands", "worker_start_ray_commands"):
        for cmd in config[key]:
            shlex.split(cmd)  # unbalanced quotes raise ValueError
