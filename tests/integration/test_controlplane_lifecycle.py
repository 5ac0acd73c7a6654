"""The control plane leaves nothing behind: stop() and a caller that exits without calling it."""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from testsupport import require_controlplane_binaries

from lmeval_setup.sandbox.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie is gone in all but name


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_stop_kills_every_process(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, require_controlplane_binaries())
    state = plane.start()
    assert set(state.pgids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    plane.stop()
    assert _gone_within(list(state.pgids.values()), 10)


def test_a_caller_that_exits_without_stop_takes_the_processes_with_it(tmp_path: Path) -> None:
    """Processes run in their own sessions; without the exit hook a failed fixture would leak them."""
    require_controlplane_binaries()
    script = (
        "import json, sys; from pathlib import Path\n"
        "from lmeval_setup.sandbox.controlplane import ControlPlane\n"
        "state = ControlPlane(Path(sys.argv[1])).start()\n"
        "print(json.dumps(state.pgids))\n"  # and exit without stop()
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pids = list(json.loads(done.stdout.strip().splitlines()[-1]).values())
    assert _gone_within(pids, 10)


# -- etcd and key files are private -------------------------------------------------------------------------
def _etcd_health(port: int, context: Any) -> int:
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=5, context=context) as resp:
        return int(resp.status)


def test_etcd_serves_only_clients_with_an_etcd_ca_certificate(controlplane: Any) -> None:
    """Anyone on the machine could otherwise read every Secret through etcd, or write around RBAC."""
    certs, port = controlplane.certs, controlplane.ports["etcd"]
    assert _etcd_health(port, controlplane.etcd_client_context()) == 200
    with pytest.raises(OSError):  # plain HTTP: the port speaks TLS only
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    anonymous = ssl.create_default_context(cafile=str(certs / "etcd-ca.crt"))
    with pytest.raises(OSError):  # TLS without a client certificate
        _etcd_health(port, anonymous)
    as_admin = ssl.create_default_context(cafile=str(certs / "etcd-ca.crt"))
    as_admin.load_cert_chain(certs / "admin.crt", certs / "admin.key")  # system:masters, but the apiserver's CA
    with pytest.raises(OSError):
        _etcd_health(port, as_admin)
    argv = Path(f"/proc/{controlplane.state().pgids['kube-apiserver']}/cmdline").read_bytes().split(b"\0")
    assert f"--etcd-servers=https://127.0.0.1:{port}".encode() in argv


def test_keys_and_kubeconfigs_are_0600_and_directories_0700(controlplane: Any) -> None:
    workdir = controlplane.workdir
    private = [*controlplane.certs.glob("*.key"), controlplane.kubeconfig]
    assert {p.name for p in private} >= {"sa.key", "admin.key", "apiserver.key", "etcd-server.key",
                                         "apiserver-etcd-client.key", "kubeconfig"}
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (workdir, controlplane.certs, workdir / "etcd", workdir / "logs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_a_port_taken_before_etcd_or_the_apiserver_binds_it_is_replaced(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Between free_port() and the bind another process may take the port (a fresh-clone run: etcd exited with
    "bind: address already in use"). The real etcd and apiserver exit; the plane starts them again on new ports."""
    from lmeval_setup.sandbox import controlplane

    require_controlplane_binaries()
    taken = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
    for s in taken:
        s.bind(("127.0.0.1", controlplane.free_port()))
        s.listen()
    real = controlplane.free_port
    # etcd's client port, then (after etcd is up) the apiserver's: both already listened on.
    handed = iter([taken[0].getsockname()[1]])
    monkeypatch.setattr(controlplane, "free_port", lambda: next(handed, None) or real())
    plane = ControlPlane(tmp_path / "plane", controller_manager=False)
    plane.port = taken[1].getsockname()[1]
    try:
        plane.start()
        taken_ports = {s.getsockname()[1] for s in taken}
        assert plane.ports["etcd"] not in taken_ports and plane.port not in taken_ports, plane.ports
        with urllib.request.urlopen(f"{plane.server}/readyz", context=_admin_context(plane), timeout=5) as resp:
            assert resp.status == 200
        assert f"127.0.0.1:{plane.port}" in plane.kubeconfig.read_text()
        assert "address already in use" in plane.log_path("etcd").read_text()
        assert "address already in use" in plane.log_path("kube-apiserver").read_text()
    finally:
        plane.stop(grace=0.0)
        for s in taken:
            s.close()


def _admin_context(plane: ControlPlane) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(plane.certs / "ca.crt"))
    ctx.load_cert_chain(plane.certs / "admin.crt", plane.certs / "admin.key")
    return ctx
