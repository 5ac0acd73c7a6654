"""Start and stop a real control plane: etcd + kube-apiserver (+ kube-controller-manager).

The binaries are built from the Go module proxy by tools/build-controlplane.sh and cached outside the
repository. Everything binds to 127.0.0.1 on free ports, authenticates with client certificates from
a throw-away CA, and authorises with RBAC, like envtest. etcd, too, serves only TLS and only to
clients holding a certificate of its own CA (as kubeadm sets it up): any local user could otherwise
read every Secret, or write around RBAC, through etcd's port. The apiserver's client certificates come
from another CA, so no apiserver identity (not even the admin) can talk to etcd. Keys are 0600 and the
working directory 0700. Processes run in their own sessions so that `stop()` (or `stop_recorded()` from
another process, for `sandbox down`) kills whole process groups and leaves nothing behind; unless
`stop_at_exit=False` (`sandbox up`), `stop()` also runs when this process exits, is sent SIGTERM/SIGHUP or
loses its parent (sandbox/reaper.py), since sessions of their own would otherwise outlive it, and each process
is tied to this one by a lifeline (sandbox/lifeline.py), so a SIGKILL'd owner, which runs no code, leaves none.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import KW_ONLY, asdict, dataclass, field
from pathlib import Path

import yaml

from lmeval_setup.errors import PrerequisiteError, WaitTimeout
from lmeval_setup.sandbox import lifeline, reaper
from lmeval_setup.sandbox.cache import cache_dir
from lmeval_setup.sandbox.pki import TinyCA, service_account_keys
from lmeval_setup.sandbox.private import make_private_dir, write_private

K8S_VERSION = "v1.36.3"
ADMIN_USER = "lmeval-admin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
BUILD_HINT = "build them with: bash tools/build-controlplane.sh (or make controlplane)"
STATE_FILE = "controlplane.json"

# KCM controllers we leave out: no cloud, no real nodes to watch (our simulated kubelet owns the one
# Node), no certificate signing, and no token minting (ServiceAccount admission is off, as in envtest).
# The PersistentVolume binder runs: it binds claims to existing PersistentVolumes and reports the others
# (FailedBinding: "no storage class is set"), as a cluster without a default StorageClass does.
_KCM_CONTROLLERS = ",".join(
    [
        "*",
        "-nodelifecycle",
        "-nodeipam",
        "-cloud-node-lifecycle",
        "-service-lb-controller",
        "-node-route-controller",
        "-attachdetach",
        "-persistentvolume-expander",
        "-ephemeral-volume",
        "-csrsigning",
        "-csrapproving",
        "-csrcleaner",
        "-bootstrapsigner",
        "-tokencleaner",
        "-serviceaccount-token",
    ]
)


def default_binary_dir() -> Path:
    return cache_dir("controlplane", K8S_VERSION, override="LMEVAL_CONTROLPLANE_DIR")


def kubectl_path(binary_dir: Path | None = None) -> Path:
    """kubectl built with the control plane: for demos and the benchmarks' kubectl baselines."""
    return (binary_dir or default_binary_dir()) / "kubectl"


def missing_binaries(binary_dir: Path | None = None) -> list[str]:
    directory = binary_dir or default_binary_dir()
    return [b for b in BINARIES if not os.access(directory / b, os.X_OK)]


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for port-0 binds and outgoing connections (32768-60999 unless configured)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# Every port free_port() has handed out in this process: a plane picks the apiserver's and etcd's two before
# any of them listens, so a repeated draw could give two of them one port.
_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()
# Another process may still bind a port between free_port() and etcd or the apiserver: start again on new ones.
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


def free_port() -> int:
    """A loopback port nothing listens on and not handed out before, below the ephemeral range when there is room.

    The port is released before etcd or the apiserver binds it; a port the kernel picked (bind to 0) can be handed
    to any outgoing connection in between, which happened when several planes started at once (pytest-xdist:
    "bind: address already in use"). Below the range only another explicit choice can take it.
    """
    low = ephemeral_ports()[0]
    with _HANDED_OUT_LOCK:
        for _ in range(50 if low > 11000 else 0):
            port = 10000 + secrets.randbelow(low - 10000)
            if port not in _HANDED_OUT and _bindable(port):
                _HANDED_OUT.add(port)
                return port
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_taken(exc: PrerequisiteError) -> bool:
    """A component exited because its port was bound by someone else since free_port() chose it."""
    return PORT_TAKEN in str(exc)


@dataclass
class ControlPlaneState:
    """What another process needs to reach or stop a running control plane."""

    workdir: str
    kubeconfig: str
    _: KW_ONLY
    server: str
    pgids: dict[str, int] = field(default_factory=dict)
    # name -> port each process listens on (etcd's client port, the apiserver's, the controller manager's)
    ports: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # time.time() when the apiserver became ready

    def save(self) -> None:
        (Path(self.workdir) / STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, workdir: Path) -> ControlPlaneState | None:
        path = workdir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def group_alive(pgid: int | None) -> bool:
    """Is any process of the group still there (also when it is not ours to signal)?"""
    if not pgid or pgid <= 1:  # 0 would ask about our own group
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_groups(pgids: dict[str, int], grace: float = 3.0) -> None:
    """SIGTERM each process group, newest first; SIGKILL what is still there after `grace` seconds.

    The data is throw-away, so a short grace: kube-apiserver otherwise waits ~10 s for open watches.
    """
    order = list(reversed(list(pgids.values())))
    for pgid in order:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_alive(p) for p in order):
        time.sleep(0.1)
    for pgid in order:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback, with a generated admin kubeconfig."""

    def __init__(
        self,
        workdir: Path,
        binary_dir: Path | None = None,
        *,
        controller_manager: bool = True,
        audit_log: bool = False,
        ready_timeout: float = 90.0,
        stop_at_exit: bool = True,
    ) -> None:
        self.workdir = workdir
        self.binary_dir = binary_dir or default_binary_dir()
        self.controller_manager = controller_manager
        self.audit_log = audit_log
        self.ready_timeout = ready_timeout
        # The processes run in sessions of their own, so they outlive a caller that dies or forgets
        # stop() (a fixture failing half-way, ^C). Only `sandbox up` means them to outlive it.
        self.stop_at_exit = stop_at_exit
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ca: TinyCA | None = None
        self.etcd_ca: TinyCA | None = None
        self.port = 0
        self.ports: dict[str, int] = {}
        self.started_at: float = 0.0
        self.started_in: float = 0.0
        self._reaper_token = 0

    # -- paths -----------------------------------------------------------------------------------
    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audit_log_path(self) -> Path:
        return self.workdir / "audit.log"

    def log_path(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ControlPlaneState:
        missing = missing_binaries(self.binary_dir)
        if missing:
            raise PrerequisiteError(
                f"control-plane binaries missing in {self.binary_dir}: {', '.join(missing)}", hint=BUILD_HINT
            )
        began = time.monotonic()
        self._make_private_dirs()
        self._write_pki()
        if self.stop_at_exit:  # also on SIGTERM/SIGHUP and when our parent dies, not only at a clean exit
            self._reaper_token = reaper.register(self.stop, watch_parent=True)
        try:
            etcd_port = self._start_etcd_on_free_ports()
            self._start_apiserver_on_a_free_port(etcd_port)
            self.started_at = time.time()
            if self.controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        state = self.state()
        state.save()
        return state

    def state(self) -> ControlPlaneState:
        return ControlPlaneState(
            workdir=str(self.workdir),
            kubeconfig=str(self.kubeconfig),
            server=self.server,
            pgids={name: p.pid for name, p in self._procs.items()},
            ports=dict(self.ports),
            started=self.started_at,
        )

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM every process, SIGKILL after `grace` seconds. On SIGTERM etcd takes ~7 s and kube-apiserver
        ~11 s to exit, so any grace is spent in full: a throw-away plane (a test's) passes 0 to end at once."""
        if self._reaper_token:
            reaper.unregister(self._reaper_token)
            self._reaper_token = 0
        kill_groups({name: p.pid for name, p in self._procs.items()}, grace=grace)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._procs.clear()

    def kill_apiserver(self) -> None:
        """Fault injection: the apiserver dies mid-run (etcd keeps the data)."""
        proc = self._procs.pop("kube-apiserver", None)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart_apiserver(self) -> None:
        etcd_port = int(self._etcd_port)
        self._start_apiserver(etcd_port, port=self.port)
        self._wait_ready()
        self.state().save()

    def restart_controller_manager(self) -> None:
        """A fresh kube-controller-manager, for a test that restarted the apiserver: the running one's informers
        reconnect after a client-go backoff that grows with every restart and resets only after two minutes of
        quiet (a rollout's new ReplicaSet took 8.6 s to appear after 7 restarts 8 s apart, 0.4 s after none);
        a new one lists and watches at once. What runs on the cluster and what it stores are unchanged."""
        proc = self._procs.pop("kube-controller-manager", None)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if self.controller_manager:
            self._start_controller_manager()
        self.state().save()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- identities ------------------------------------------------------------------------------
    def kubeconfig_for(self, user: str, groups: tuple[str, ...] = (), path: Path | None = None) -> Path:
        """A kubeconfig for another identity (RBAC tests): a client cert signed by our CA."""
        assert self.ca is not None, "start() first"
        pair = self.ca.client_cert(user, groups)
        cert, key = pair.write(self.certs, f"user-{user}")
        target = path or self.workdir / f"kubeconfig-{user}"
        _write_kubeconfig(target, self.server, self.certs / "ca.crt", cert, key, user)
        return target

    # -- internals -------------------------------------------------------------------------------
    def _make_private_dirs(self) -> None:
        """The working directory holds keys and etcd's data: its owner only (etcd itself wants 0700)."""
        for directory in (self.workdir, self.certs, self.workdir / "logs", self.workdir / "etcd"):
            make_private_dir(directory)

    def _write_pki(self) -> None:
        self.ca = TinyCA()
        (self.certs / "ca.crt").write_bytes(self.ca.cert_pem)
        self.ca.server_cert().write(self.certs, "apiserver")
        sa = service_account_keys()
        (self.certs / "sa.pub").write_bytes(sa.cert_pem)
        write_private(self.certs / "sa.key", sa.key_pem)
        self._write_etcd_pki()
        admin_cert, admin_key = self.ca.client_cert(ADMIN_USER, ("system:masters",)).write(self.certs, "admin")
        self.port = self.port or free_port()
        _write_kubeconfig(self.kubeconfig, self.server, self.certs / "ca.crt", admin_cert, admin_key, ADMIN_USER)

    def _write_etcd_pki(self) -> None:
        """etcd's own CA: its serving/peer certificate and the one client certificate, the apiserver's."""
        self.etcd_ca = TinyCA("lmeval-sandbox-etcd-ca")
        (self.certs / "etcd-ca.crt").write_bytes(self.etcd_ca.cert_pem)
        self.etcd_ca.peer_cert().write(self.certs, "etcd-server")
        self.etcd_ca.client_cert("kube-apiserver-etcd-client").write(self.certs, "apiserver-etcd-client")

    def etcd_client_context(self) -> ssl.SSLContext:
        """TLS as the apiserver talks to etcd (its CA, the apiserver's client certificate)."""
        ctx = ssl.create_default_context(cafile=str(self.certs / "etcd-ca.crt"))
        ctx.load_cert_chain(self.certs / "apiserver-etcd-client.crt", self.certs / "apiserver-etcd-client.key")
        return ctx

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.log_path(name).open("ab")
        if self.stop_at_exit:  # dies with this process even when it is SIGKILLed (the reaper then runs no code)
            proc = lifeline.spawn_tied(argv, stdout=log, stderr=subprocess.STDOUT)
        else:  # `sandbox up`: detached on purpose, stopped by `sandbox down`
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        log.close()
        self._procs[name] = proc
        return proc

    def _start_etcd_on_free_ports(self) -> int:
        attempt = 1
        while True:
            try:
                return self._start_etcd()
            except PrerequisiteError as exc:
                if not _port_taken(exc) or attempt == PORT_ATTEMPTS:
                    raise
            attempt += 1
            # etcd binds its listeners before it writes its data directory; empty it all the same, as a member
            # already there would keep the peer URL it was created with.
            shutil.rmtree(self.workdir / "etcd")
            make_private_dir(self.workdir / "etcd")

    def _start_apiserver_on_a_free_port(self, etcd_port: int) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._start_apiserver(etcd_port)
            try:
                self._wait_ready()
                return
            except PrerequisiteError as exc:
                if not _port_taken(exc) or attempt == PORT_ATTEMPTS:
                    raise
                self.port = free_port()
                _write_kubeconfig(self.kubeconfig, self.server, self.certs / "ca.crt", self.certs / "admin.crt",
                                  self.certs / "admin.key", ADMIN_USER)

    def _start_etcd(self) -> int:
        client, peer = free_port(), free_port()
        self._etcd_port = client
        self.ports["etcd"] = client
        c = self.certs
        self._spawn(
            "etcd",
            [
                str(self.binary_dir / "etcd"),
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=https://127.0.0.1:{client}",
                f"--advertise-client-urls=https://127.0.0.1:{client}",
                f"--listen-peer-urls=https://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=https://127.0.0.1:{peer}",
                f"--initial-cluster=default=https://127.0.0.1:{peer}",
                # Client-certificate TLS on both ports: only holders of an etcd-CA certificate get in.
                f"--cert-file={c / 'etcd-server.crt'}",
                f"--key-file={c / 'etcd-server.key'}",
                f"--trusted-ca-file={c / 'etcd-ca.crt'}",
                "--client-cert-auth=true",
                f"--peer-cert-file={c / 'etcd-server.crt'}",
                f"--peer-key-file={c / 'etcd-server.key'}",
                f"--peer-trusted-ca-file={c / 'etcd-ca.crt'}",
                "--peer-client-cert-auth=true",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait_http(f"https://127.0.0.1:{client}/health", "etcd", self.etcd_client_context())
        return client

    def _start_apiserver(self, etcd_port: int, port: int | None = None) -> None:
        c = self.certs
        argv = [
            str(self.binary_dir / "kube-apiserver"),
            f"--etcd-servers=https://127.0.0.1:{etcd_port}",
            f"--etcd-cafile={c / 'etcd-ca.crt'}",
            f"--etcd-certfile={c / 'apiserver-etcd-client.crt'}",
            f"--etcd-keyfile={c / 'apiserver-etcd-client.key'}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port or self.port}",
            f"--tls-cert-file={c / 'apiserver.crt'}",
            f"--tls-private-key-file={c / 'apiserver.key'}",
            f"--client-ca-file={c / 'ca.crt'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer=https://127.0.0.1:{self.port}",
            f"--service-account-key-file={c / 'sa.pub'}",
            f"--service-account-signing-key-file={c / 'sa.key'}",
            "--endpoint-reconciler-type=none",
            # The simulated kubelet serves logs on loopback with our CA's server cert.
            f"--kubelet-certificate-authority={c / 'ca.crt'}",
            f"--kubelet-client-certificate={c / 'admin.crt'}",
            f"--kubelet-client-key={c / 'admin.key'}",
            "--kubelet-preferred-address-types=InternalIP",
        ]
        if self.audit_log:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"
            )
            argv += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
            ]
        self.ports["kube-apiserver"] = port or self.port
        self._spawn("kube-apiserver", argv)

    def _start_controller_manager(self) -> None:
        c = self.certs
        self.ports["kube-controller-manager"] = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binary_dir / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['kube-controller-manager']}",
                "--leader-elect=false",
                f"--controllers={_KCM_CONTROLLERS}",
                f"--root-ca-file={c / 'ca.crt'}",
                f"--service-account-private-key-file={c / 'sa.key'}",
                "--use-service-account-credentials=false",
                "--concurrent-deployment-syncs=2",
                "--concurrent-replicaset-syncs=2",
                "--concurrent-gc-syncs=5",
            ],
        )

    def _wait_http(self, url: str, name: str, context: ssl.SSLContext | None = None) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise PrerequisiteError(f"{name} exited with {proc.returncode}: {self._tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise WaitTimeout(f"{name} not ready after {self.ready_timeout:.0f}s ({last}): {self._tail(name)}")

    def _wait_ready(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        ctx.load_cert_chain(self.certs / "admin.crt", self.certs / "admin.key")
        self._wait_http(f"{self.server}/readyz", "kube-apiserver", ctx)

    def _tail(self, name: str, lines: int = 5) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])


def _write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lmeval-sandbox", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "lmeval-sandbox", "context": {"cluster": "lmeval-sandbox", "user": user}}],
        "current-context": "lmeval-sandbox",
    }
    # It names the admin's key file; private like the key (and written so from the first byte).
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


def stop_recorded(workdir: Path) -> bool:
    """Stop a control plane started by another process (sandbox down). True if one was running."""
    state = ControlPlaneState.load(workdir)
    if state is None:
        return False
    kill_groups({name: pgid for name, pgid in state.pgids.items() if recorded_group_is_ours(pgid, state.workdir)})
    return True


def recorded_group_is_ours(pgid: int, workdir: str) -> bool:
    """Whether a process group recorded in a state file still is the one we started.

    A state file outlives its processes (a reboot, a kill -9): by then the number may belong to
    anything of the user's. Every process we start names its working directory on its command line,
    so a leader whose command line does not is someone else's. Without a leader the number cannot
    have been reused (a pid stays reserved while its group has members), and without /proc there is
    nothing to check.
    """
    if pgid <= 1:
        return False
    try:
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return os.fsencode(workdir) in cmdline
