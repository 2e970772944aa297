"""`ray up cluster/local.yaml` for real: an SSH server on this machine is the cluster's head.

The test starts OpenSSH's ``sshd`` (Debian's ``openssh-server``; ``.ci/run`` installs it)
on 127.0.0.1 at a free port, with a host key and a user key made for the test, and logs in
as a dedicated user made for the test (``raynas-ci``, home in a temporary folder). It then
drives the real launcher with a copy of ``cluster/local.yaml`` whose head is 127.0.0.1 and
which has no workers: ``ray up -y``, ``ray exec`` running ``raynas evolve --address auto``,
``ray rsync-down`` of the run folder, ``ray down -y``, and reads the Parquet that came back.
On the way it checks token authentication: the token copied with mode 600, the driver run
with ``RAY_AUTH_MODE=token``, and a driver with a wrong token refused by the cluster.

What the copy changes, and why (everything else is the file as shipped):

- ``auth.ssh_proxy_command``: Ray's SSH options have no port; a ProxyCommand that relays
  to the test's port is how one reaches an SSH server that is not on port 22.
- ``setup_commands``: instead of installing Ray and raynas into ``~/raynas-venv`` with pip
  (no internet here), that virtualenv is made with the same Python version as the test's
  and sees the test's site-packages (raynas installed from this checkout) through a
  ``.pth`` file; ``ray`` and ``raynas`` scripts are written into it.
- The head's ports are free ports picked by the test and ``RAY_TMPDIR`` points into the
  user's home: other Ray instances on this machine (other tests) keep theirs.
- ``ray stop`` (in the start commands and in ``ray down``) stops every Ray process its
  user may signal. It runs as the dedicated user, so the kernel refuses it any other
  user's processes (``ray stop`` reports and skips those): it stops only this cluster.

Local side: ``ray up`` runs with ``HOME`` and ``RAY_TMPDIR`` in the test's folder, so the
token it copies (``~/.ray/auth_token``, made with ``ray get-auth-token --generate``) and
the local provider's state files are the test's own. Needs root (to add the user and to
run sshd); otherwise, or where sshd cannot be installed, the test skips and says why.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")
USER = "raynas-ci"

PROXY = '''import socket, sys, threading
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def pump():
    while data := sock.recv(65536):
        sys.stdout.buffer.write(data); sys.stdout.buffer.flush()
    sys.stdout.close()
reader = threading.Thread(target=pump, daemon=True)
reader.start()
while data := sys.stdin.buffer.read1(65536):
    sock.sendall(data)
sock.shutdown(socket.SHUT_WR)
reader.join()
'''


def _missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root: it adds a user for the SSH login and runs sshd"
    for tool, package in (("/usr/sbin/sshd", "openssh-server"), ("ssh", "openssh-client"),
                          ("rsync", "rsync"), ("useradd", "passwd")):
        if not shutil.which(tool):
            return (f"{tool} not found: install Debian's {package} "
                    f"(.ci/run does: apt-get install openssh-server rsync)")
    return None


def _python_for(uid: int) -> str | None:
    """A Python of this test's version that user ``uid`` can run (the test's own Python, or
    the system's), to make the remote user's virtualenv; None if there is none."""
    import stat

    candidates = [Path(getattr(sys, "_base_executable", sys.executable)).resolve(),
                  shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}"),
                  "/usr/bin/python3"]
    for candidate in candidates:
        if not candidate or not Path(candidate).is_file():
            continue
        path = Path(candidate).resolve()
        reachable = all(p.stat().st_mode & stat.S_IXOTH for p in path.parents) and \
            path.stat().st_mode & stat.S_IXOTH
        if not reachable:
            continue
        version = subprocess.run([str(path), "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True).stdout.strip()
        if version == str(tuple(sys.version_info[:2])):
            return str(path)
    return None


def _others_can_read(folder: Path) -> bool:
    """Whether any user may list ``folder`` and pass through every folder above it."""
    import stat

    folder = folder.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in folder.parents) and \
        folder.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH) == (stat.S_IROTH | stat.S_IXOTH)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _user_processes(uid: int) -> dict[int, str]:
    """{pid: command name} of the processes owned by ``uid`` (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    found[int(entry.name)] = (entry / "comm").read_text().strip()
            except OSError:
                continue
    return found


def _stop_user_processes(uid: int) -> None:
    """End every process of the test's own user, by PID (all of them were started here)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _user_processes(uid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + 10
        while _user_processes(uid) and time.time() < deadline:
            time.sleep(0.2)


@pytest.fixture
def ssh_host(tmp_path):
    """A dedicated user reachable over SSH at 127.0.0.1:<free port> with a fresh key."""
    reason = _missing_requirements()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="raynas-ci-"))  # readable by the user, unlike tmp_path
    base.chmod(0o755)
    home = base / "home"
    try:
        pwd.getpwnam(USER)
        subprocess.run(["userdel", "-r", USER], capture_output=True)
    except KeyError:
        pass
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                    USER], check=True, capture_output=True)
    # an account with no password but not locked: sshd (UsePAM no) refuses locked accounts
    subprocess.run(["usermod", "-p", "*", USER], check=True, capture_output=True)
    uid = pwd.getpwnam(USER).pw_uid
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keys / "host"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keys / "user"], check=True)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(keys / "user.pub", ssh_dir / "authorized_keys")
    (ssh_dir / "authorized_keys").chmod(0o600)
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(ssh_dir)], check=True)
    (port,) = _free_ports(1)
    config = tmp_path / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {keys / 'host'}
PidFile {tmp_path / 'sshd.pid'}
AllowUsers {USER}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
""")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
    log = (tmp_path / "sshd.log").open("w")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if sshd.poll() is not None or time.time() > deadline:
                    pytest.fail(f"sshd did not start:\n{(tmp_path / 'sshd.log').read_text()}")
                time.sleep(0.2)
        proxy = tmp_path / "proxy.py"
        proxy.write_text(PROXY)
        python = _python_for(uid)
        if python is None:
            pytest.skip(f"no Python {sys.version_info[0]}.{sys.version_info[1]} that user "
                        f"{USER} may run (the test's own lies under a private folder)")
        # stands in for `pip install ray raynas` (no internet): a virtualenv of the user's
        # own that sees the test's site-packages, with `ray` and `raynas` scripts
        site_packages = next(p for p in map(Path, sys.path) if p.name == "site-packages"
                             and str(p).startswith(sys.prefix))
        if not _others_can_read(site_packages):
            pytest.skip(f"user {USER} cannot read the test's site-packages {site_packages} "
                        f"(a folder above it is private, e.g. one made by mktemp -d)")
        install = base / "offline_install.sh"
        install.write_text(f"""set -e
{python} -m venv --without-pip ~/raynas-venv
purelib=$(~/raynas-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('{site_packages}')" > "$purelib/raynas-test.pth"
for script in "ray ray.scripts.scripts" "raynas raynas.cli.main"; do
    set -- $script
    printf '#!%s\\nimport sys\\nfrom %s import main\\nsys.exit(main())\\n' \\
        "$HOME/raynas-venv/bin/python" "$2" > ~/raynas-venv/bin/$1
    chmod +x ~/raynas-venv/bin/$1
done
""")
        install.chmod(0o644)
        yield {"port": port, "key": keys / "user", "home": home, "proxy": proxy,
               "install": install}
    finally:
        _stop_user_processes(uid)
        sshd.send_signal(signal.SIGTERM)
        sshd.wait(timeout=10)
        log.close()
        subprocess.run(["userdel", "-r", USER], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _test_config(ssh_host: dict, cluster_name: str) -> dict:
    """``cluster/local.yaml`` changed only where this machine differs from a real one."""
    config = yaml.safe_load((REPO / "cluster" / "local.yaml").read_text())
    config["cluster_name"] = cluster_name
    config["provider"]["head_ip"] = "127.0.0.1"
    config["provider"]["worker_ips"] = []
    config["auth"] = {
        "ssh_user": USER,
        "ssh_private_key": str(ssh_host["key"]),
        "ssh_proxy_command": f"{sys.executable} {ssh_host['proxy']} %h {ssh_host['port']}",
    }
    shipped = config["setup_commands"]
    installs = [c for c in shipped if "pip install" in c or "-m venv" in c]
    assert installs, f"local.yaml no longer installs with pip; update this test: {shipped}"
    tmpdir = "export RAY_TMPDIR=$HOME/rt"
    config["setup_commands"] = (
        [f"bash {ssh_host['install']}", "mkdir -p ~/rt",
         f"grep -qxF '{tmpdir}' ~/.bashrc || echo '{tmpdir}' >> ~/.bashrc"]
        + [c for c in shipped if c not in installs])
    gcs, object_manager, node_manager, dashboard, client, agent, runtime_env = _free_ports(7)
    start = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert len(start) == 1, config["head_start_ray_commands"]
    command = (start[0].replace("--port=6379", f"--port={gcs}")
               .replace("--object-manager-port=8076", f"--object-manager-port={object_manager}")
               .replace("--node-manager-port=8077", f"--node-manager-port={node_manager}"))
    assert str(gcs) in command and str(node_manager) in command, command
    command = (f"{tmpdir}; {command} --dashboard-port={dashboard} "
               f"--ray-client-server-port={client} --dashboard-agent-listen-port={agent} "
               f"--runtime-env-agent-port={runtime_env} --num-cpus=2")
    config["head_start_ray_commands"] = [
        c if c is not start[0] else command for c in config["head_start_ray_commands"]]
    return config


def _ray(*args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([RAY, *args], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    return result


def test_ray_up_exec_rsync_down(ssh_host, tmp_path):
    local_home = tmp_path / "laptop"
    (local_home / ".ray").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(local_home), RAY_TMPDIR=str(tmp_path / "laptop-ray"),
               PATH=f"{BIN}:{env['PATH']}")
    (tmp_path / "laptop-ray").mkdir()
    token = _ray("get-auth-token", "--generate", env=env, timeout=60)
    assert token.returncode == 0 and (local_home / ".ray" / "auth_token").is_file(), token.stderr

    name = f"raynas-ci-{uuid.uuid4().hex[:6]}"
    config_path = tmp_path / "local.yaml"
    config_path.write_text(yaml.safe_dump(_test_config(ssh_host, name)))
    logs = []

    def step(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        result = _ray(*args, env=env, timeout=timeout)
        logs.append(f"$ ray {' '.join(args)}\n{result.stdout}{result.stderr}")
        (tmp_path / "ray_up.log").write_text("\n".join(logs))
        assert result.returncode == 0, f"ray {args[0]} exited {result.returncode}:\n" \
            f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        return result

    up_done = False
    try:
        up = step("up", "-y", "--no-config-cache", str(config_path))
        up_done = True
        assert "cannot modify limit" not in up.stdout + up.stderr  # the start's ulimit line
        assert "Ray runtime started" in up.stdout + up.stderr
        assert (ssh_host["home"] / "raynas-src" / "pyproject.toml").is_file()
        token_copy = ssh_host["home"] / ".ray" / "auth_token"
        assert token_copy.read_text() == (local_home / ".ray" / "auth_token").read_text()
        assert oct(token_copy.stat().st_mode & 0o777) == "0o600"
        evolve = step("exec", str(config_path),
                      "raynas evolve --address auto --trials 3 --epochs 1 --limit 300 -q "
                      "--out ~/raynas-runs/ci && echo RAY_AUTH_MODE=$RAY_AUTH_MODE")
        assert "RAY_AUTH_MODE=token" in evolve.stdout + evolve.stderr
        # token authentication is enforced: a driver with a wrong token is refused
        # (the log echoes the command: the success marker is built, never written out)
        refused = step("exec", str(config_path),
                       "RAY_AUTH_TOKEN=not-the-token timeout 90 python -c \"import ray; "
                       "ray.init(address='auto'); print('joined-' * 2)\"; echo exit=$?")
        exits = re.findall(r"exit=(\d+)", refused.stdout + refused.stderr)
        assert exits and exits[-1] != "0", refused.stdout[-3000:]
        assert "joined-joined-" not in refused.stdout + refused.stderr
        assert "InvalidAuthToken" in refused.stdout + refused.stderr
        down_to = tmp_path / "back"
        step("rsync-down", str(config_path), "~/raynas-runs/ci/", str(down_to))
    finally:
        if up_done:
            step("down", "-y", str(config_path))
    rows = pd.read_parquet(down_to / "trials")
    assert len(rows) == 3, rows
    assert set(rows["status"]) <= {"completed", "failed", "rejected"}
    done = rows[rows.status == "completed"]
    assert len(done) >= 1, rows[["status", "error"]]
    assert done["accuracy"].between(0, 1).all()
    assert rows["node"].nunique() == 1  # the head, the one node of this cluster
    assert (down_to / "run.json").is_file()
    # the cluster's Ray is gone: no process of the test's user survives `ray down`
    uid = pwd.getpwnam(USER).pw_uid
    left = _user_processes(uid).values()
    assert not [n for n in left if "ray" in n or "gcs" in n], left
    shutil.copy(tmp_path / "ray_up.log", Path(tempfile.gettempdir()) / "raynas_ray_up.log")
