"""Pods as local processes for the sandbox kubelet, and its pods/exec server.

A real kubelet gives each pod a sandbox (the "pause" container holding the pod's namespaces) and runs
the containers as processes inside it; exec joins a container's namespaces. This module does the
same on this machine with util-linux:

- `PodSandbox`: `unshare --mount --net --pid --fork` runs a pause process (`sleep infinity`) whose private mount
  namespace has a tmpfs on /opt (so /opt/app-root/src and the pod's volume mount paths under /opt
  exist, shared by the pod's containers like an emptyDir) and on /run (with the service-account
  namespace file /run/secrets/kubernetes.io/serviceaccount/namespace, which operators of 2.22 and
  older read), and whose network namespace has only loopback, up: each pod may listen on
  127.0.0.1:18080 (the TrustyAI driver) without meeting another pod, and whose PID namespace (the pause
  process is its init, /proc is the pod's own) holds every process of the pod: killing the init when the
  pod is deleted makes the kernel kill all of them, also what double-forked and called setsid to leave its
  container's process group. Where unshare may not make a PID namespace (`pid_namespaces_available`), pods
  are process groups only and such a process outlives its pod. Nothing is written on the host.
- `ContainerProcess`: the PID_LAUNCHER below (or, without a PID namespace, `nsenter --target PAUSE --mount
  [--net]`) runs `env --chdir=DIR ARGV` in the pod's namespaces with the container's environment; stdout and
  stderr become the container's log (LogStore), the exit code its terminated state. Every container process
  leads a process group of its own (a session): whatever it starts (the driver's lm-eval, lm-eval's
  children) is killed with it when the container is stopped, its pod deleted or finished, or when its main
  process exits (as a runtime tears down a container's PID namespace; the pod's containers share one PID
  namespace here, as with `shareProcessNamespace: true`). The kubelet's sandboxes are also stopped at
  interpreter exit and on SIGTERM/SIGHUP (sandbox/reaper.py), and every direct child gets PR_SET_PDEATHSIG,
  so none outlives the kubelet thread.
- `StreamServer`: the Go program `kubelet-stream` (tools/kubeletstream, built with the control
  plane) in front of the kubelet's Python HTTPS server: it serves `/exec/...` with the kubelet's own
  streaming code (SPDY and WebSocket) and proxies everything else (containerLogs) to Python. It asks
  the kubelet which process a container is through `GET /runtime/exec-target/NS/POD/CONTAINER`.

What is not a container runtime: no images (the kubelet maps an image's entrypoint to a binary on
this machine, or plays a script), no user namespaces or cgroups, processes run as the kubelet's
user, secret/configMap volume contents are not materialised, and a volume mounted outside /opt is
just a path on the host.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import logging
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import IO, Any

from lmeval_setup.sandbox import reaper

log = logging.getLogger("lmeval_setup.sandbox.podruntime")

STREAM_BINARY = "kubelet-stream"
SERVICE_ACCOUNT_DIR = "/run/secrets/kubernetes.io/serviceaccount"
POD_ROOT = "/opt/app-root/src"
DEFAULT_PATH = "/opt/app-root/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 2.0
TEARDOWN_GRACE_SECONDS = 1.0  # sandbox teardown: SIGTERM to every group, SIGKILL to what is left after this

# Runs as the pause process inside the new namespaces: loopback up, the pod's private /opt, /run, /etc/hosts
# and /tmp (the 2.16 driver's socket is /tmp/ta-lmes-driver.sock: pods must not share it), in which the host
# paths of $KEEP_TMP (one per line: the sandbox's own directory, with the manager's kubeconfig) stay
# visible; then "ready" on stdout and sleep. $1 is the pod's namespace, the rest are directories to create.
PAUSE_SCRIPT = r"""
set -e
ip link set lo up
mount -t tmpfs -o mode=0755 sandbox-opt /opt
mount -t tmpfs -o mode=0755 sandbox-run /run
mkdir -p "$SA_DIR" /opt/app-root/src /opt/app-root/bin
printf %s "$1" > "$SA_DIR/namespace"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > /run/hosts
mount --bind /run/hosts /etc/hosts
mkdir -p /run/host-tmp
mount --bind /tmp /run/host-tmp
mount -t tmpfs -o mode=1777 sandbox-tmp /tmp
printf '%s\n' "$KEEP_TMP" | while IFS= read -r kept; do
  [ -n "$kept" ] || continue
  mkdir -p "$kept"
  mount --bind "/run/host-tmp/${kept#/tmp/}" "$kept"
done
shift
for d in "$@"; do mkdir -p "$d"; done
echo ready
exec sleep infinity
"""


# Runs a container's process in a pod's PID namespace: a process cannot join a PID namespace itself, only its
# children can, so this joins the pod's namespaces (all opened before the first setns: entering the mount
# namespace changes what /proc shows) and forks. It ignores SIGTERM/SIGINT/SIGHUP, which the kubelet sends to
# the whole group anyway, so the container's process decides how it ends; then it exits as its child did,
# by the same signal or with the same code. nsenter forks too but dies of the group's SIGTERM at once, and
# the container's graceful end would then be cut short by the SIGKILL that follows its main process' exit.
# argv: TARGET_PID NAMESPACES(comma-separated /proc/PID/ns names) -- ARGV...
PID_LAUNCHER = r"""
import ctypes, os, signal, sys
target, names, argv = sys.argv[1], sys.argv[2].split(","), sys.argv[4:]
libc = ctypes.CDLL(None, use_errno=True)
fds = [(name, os.open(f"/proc/{target}/ns/{name}", os.O_RDONLY)) for name in names]
for name, fd in fds:
    if libc.setns(fd, 0) != 0:
        sys.stderr.write(f"pod sandbox: setns {name}: {os.strerror(ctypes.get_errno())}\n")
        os._exit(128)
    os.close(fd)
held = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
for signum in held:
    signal.signal(signum, signal.SIG_IGN)
child = os.fork()
if child == 0:
    for signum in (*held, signal.SIGPIPE, signal.SIGXFSZ):  # a container starts with default dispositions
        signal.signal(signum, signal.SIG_DFL)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: never outlive the launcher
    if os.getppid() == 1:  # the launcher died first: reparented to the pod's init (its parent reads as 0)
        os._exit(137)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"{argv[0]}: {exc.strerror}\n")
        os._exit(127)
_, status = os.waitpid(child, 0)
if os.WIFSIGNALED(status):
    signum = os.WTERMSIG(status)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)
os._exit(os.waitstatus_to_exitcode(status))
"""
# A ProcessSpec's namespace names (nsenter's flags) as /proc/PID/ns names, in the order nsenter enters them.
PROC_NS_NAMES = {"net": "net", "pid": "pid", "mount": "mnt"}


def signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to process group `pgid`; False when the group is gone (no process of it is left)."""
    if pgid <= 1:  # 0 would be our own group, 1 init
        return False
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: the group still exists
        return True
    return True


def _set_pdeathsig() -> None:
    """In the child before exec: die with the thread that started us (the kubelet), never linger."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@functools.cache
def namespaces_available() -> bool:
    """Whether this machine lets us make pod sandboxes (Linux, unshare/nsenter/ip, CAP_SYS_ADMIN)."""
    if not sys.platform.startswith("linux"):
        return False
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip", "mount", "sleep")):
        return False
    if not (Path("/opt").is_dir() and Path("/run").is_dir()):
        return False
    try:
        probe = subprocess.run(["unshare", "--mount", "--net", "--", "sh", "-c",
                                "ip link set lo up && mount -t tmpfs probe /opt"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.cache
def pid_namespaces_available() -> bool:
    """Whether pod sandboxes can also be PID namespaces (unshare --pid --fork, with their own /proc)."""
    if not namespaces_available():
        return False
    try:
        probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                                "--propagation", "private", "--", "sh", "-c", "test $$ = 1"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def stream_binary(binary_dir: Path | None = None) -> Path | None:
    """The built kubelet-stream (next to the control-plane binaries), or None when not built."""
    from lmeval_setup.sandbox.controlplane import default_binary_dir

    path = (binary_dir or default_binary_dir()) / STREAM_BINARY
    return path if path.is_file() and os.access(path, os.X_OK) else None


# ------------------------------------------------------------------------------------------------
# Pod sandboxes and container processes


@dataclass
class PodSandbox:
    """The pause process of one pod: its PID (`pid`, on the host) names the pod's namespaces.

    With a PID namespace, `process` is unshare, which stays outside it, and `pid` its child, the pause
    process, init of the pod's PID namespace."""

    uid: str
    process: subprocess.Popen[bytes]
    _: KW_ONLY
    init_pid: int | None = None  # the pause process, when it is the init of a PID namespace of its own

    @property
    def pid(self) -> int:
        return self.init_pid or self.process.pid

    @property
    def has_pid_namespace(self) -> bool:
        return self.init_pid is not None

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the pod (nsenter's names): what an exec into it joins."""
        return ("mount", "net", "pid") if self.has_pid_namespace else ("mount", "net")

    @classmethod
    def start(cls, uid: str, namespace: str, directories: list[str], timeout: float = 10.0,
              keep_tmp: tuple[str, ...] = ()) -> PodSandbox:
        # --kill-child: the pause process (and with it the PID namespace) dies with unshare, which dies with us.
        pid_ns = ["--pid", "--fork", "--kill-child", "--mount-proc"] if pid_namespaces_available() else []
        argv = ["unshare", "--mount", "--net", *pid_ns, "--propagation", "private", "--", "sh", "-c", PAUSE_SCRIPT,
                "pause", namespace, *directories]
        kept = "\n".join(p for p in keep_tmp if p.startswith("/tmp/") and ".." not in p.split("/"))
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={"PATH": DEFAULT_PATH, "SA_DIR": SERVICE_ACCOUNT_DIR, "KEEP_TMP": kept},
                                   preexec_fn=_set_pdeathsig, start_new_session=True)
        assert process.stdout is not None
        ready = _read_line(process.stdout, timeout)
        if ready != "ready":
            process.kill()
            error = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
            raise RuntimeError(f"pod sandbox did not start: {error or ready or 'no answer'}")
        init_pid = _only_child(process.pid) if pid_ns else None
        if pid_ns and init_pid is None:
            process.kill()
            raise RuntimeError("pod sandbox did not start: no init in its PID namespace")
        return cls(uid, process, init_pid=init_pid)

    def stop(self) -> None:
        """SIGKILL to unshare and the pause process; the kernel then kills every process of the PID namespace.
        Returns once the pause process has ended: as init of the namespace it ends only after all of them have
        (unshare, outside it, ends at once; a process with memory to free takes ~0.1 s per GiB to die)."""
        signal_group(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        wait_group_ended(self.process.pid, timeout=10)  # unshare's group: the pause process is in it


def _only_child(pid: int) -> int | None:
    """The one child of `pid` (unshare --fork's: the pod's init), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if len(children) == 1 else None


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """One line from a child's stdout, or "" after `timeout` (a thread: pipes have no read timeout)."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].decode(errors="replace").strip() if box else ""


@dataclass(frozen=True)
class ProcessSpec:
    """What a container runs as a local process (built by a kubelet process resolver)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    _: KW_ONLY
    working_dir: str = "/"
    host_network: bool = False  # the container joins the pod's mount namespace only
    # Directories the container's image has (made in the pod's /opt before it starts).
    directories: tuple[str, ...] = ()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return ("mount",) if self.host_network else ("mount", "net")


@dataclass
class ContainerProcess:
    """A container running as a process in its pod's sandbox; its output is the container's log."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    _: KW_ONLY
    readers: list[threading.Thread] = field(default_factory=list)
    group_killed: bool = False  # what the main process left behind has been killed

    exec_pid: int = 0  # whose namespaces an exec into this container joins (set by start)
    exec_namespaces: tuple[str, ...] = ()

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls, sandbox: PodSandbox, spec: ProcessSpec, on_line: Callable[[str], None]) -> ContainerProcess:
        command = in_directory(spec.working_dir, spec.argv)
        if sandbox.has_pid_namespace:
            names = ",".join(PROC_NS_NAMES[ns] for ns in ("net", "pid", "mount") if ns in (*spec.namespaces, "pid"))
            argv = [sys.executable, "-I", "-S", "-c", PID_LAUNCHER, str(sandbox.pid), names, "--", *command]
        else:
            argv = ["nsenter", "--target", str(sandbox.pid), *(f"--{ns}" for ns in spec.namespaces), "--", *command]
        # Its own session and process group (pgid = pid; nsenter execs, the launcher's child stays in its
        # group): the container's processes, however deep, are one group to signal.
        # stdout and stderr share one pipe: the log has the order the container wrote its lines in, as
        # conmon's log has when its reader keeps up. Two pipes read by two threads gave the order the
        # threads got to run in (on a loaded machine a stderr line came before the stdout line written
        # ahead of it). A partial line is followed by whatever is written next, as in a CRI log.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=spec.env, preexec_fn=_set_pdeathsig, start_new_session=True)
        # An exec joins the pod's init in the container's namespaces and the pod's PID namespace (it then dies
        # with the pod); without one, the container's own process, which nsenter became.
        pid_ns = ("pid",) if sandbox.has_pid_namespace else ()
        running = cls(spec, process, exec_pid=sandbox.pid if pid_ns else process.pid,
                      exec_namespaces=(*spec.namespaces, *pid_ns))
        assert process.stdout is not None
        reader = threading.Thread(target=_pump, args=(process.stdout, on_line), daemon=True,
                                  name=f"container-log-{process.pid}")
        reader.start()
        running.readers.append(reader)
        return running

    def poll(self) -> int | None:
        """The exit code once the process has exited and its output is fully read, else None.

        A container ends with its main process: what that left running (children holding the log pipes)
        is killed, as a runtime's PID namespace teardown would."""
        code = self.process.poll()
        if code is None:
            return None
        self.kill_group()
        for reader in self.readers:
            reader.join(2.0)
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, as runtimes report

    def kill_group(self) -> None:
        if not self.group_killed:
            signal_group(self.pid, signal.SIGKILL)
            self.group_killed = True

    def terminate(self) -> bool:
        """SIGTERM to the whole group; False when no process of it is left."""
        return signal_group(self.pid, signal.SIGTERM)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to the group, SIGKILL to what is left after `grace` (in the background: the kubelet
        loop must not block)."""
        if not self.terminate():
            return

        def finish() -> None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
            self.kill_group()  # also children that outlived a main process that obeyed SIGTERM
            self.process.wait()

        threading.Thread(target=finish, daemon=True, name=f"container-stop-{self.pid}").start()


def in_directory(directory: str, argv: tuple[str, ...] | list[str]) -> list[str]:
    """`env --chdir DIR ARGV`: nsenter's own --wd opens DIR on the host, before it enters the namespace."""
    return ["env", f"--chdir={directory}", "--", *argv]


def _pump(stream: IO[bytes], on_line: Callable[[str], None]) -> None:
    for raw in iter(stream.readline, b""):
        on_line(raw.decode(errors="replace").rstrip("\n"))
    stream.close()


class _Spawner:
    """One long-lived thread that starts every process of a runtime.

    PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, not the process; sandboxes are
    also made from short-lived HTTP handler threads (exec), so every fork happens here instead.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[tuple[bool, Any]]]] = queue.Queue()
        threading.Thread(target=self._serve, daemon=True, name="pod-runtime-spawner").start()

    def _serve(self) -> None:
        while True:
            job, answer = self._jobs.get()
            try:
                answer.put((True, job()))
            except BaseException as exc:  # handed back to the caller, raised there
                answer.put((False, exc))

    def run(self, job: Callable[[], Any]) -> Any:
        answer: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
        self._jobs.put((job, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value


class PodRuntime:
    """The kubelet's process runtime: sandboxes by pod UID, container processes by (UID, name)."""

    def __init__(self, keep_tmp: tuple[Path, ...] = ()) -> None:
        # Host paths under /tmp that stay visible in every pod's private /tmp (resolved: /tmp may be a link).
        self.keep_tmp = tuple(str(p.resolve()) for p in keep_tmp if str(p.resolve()).startswith("/tmp/"))
        self._sandboxes: dict[str, PodSandbox] = {}
        self._containers: dict[tuple[str, str], ContainerProcess] = {}
        self._lock = threading.Lock()
        self._spawner = _Spawner()
        # A test run or runner that is killed must not leave job processes behind (issue 12).
        self._reaper_token = reaper.register(self.teardown)

    @staticmethod
    def available() -> bool:
        return namespaces_available()

    def sandbox(self, pod: dict[str, Any]) -> PodSandbox:
        """The pod's sandbox, started on first use (pods nobody execs into or runs a process in cost nothing)."""
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self._lock:
            existing = self._sandboxes.get(uid)
            if existing is not None and existing.process.poll() is None:
                return existing
            namespace, directories = str(meta.get("namespace", "")), volume_directories(pod)
            sandbox = self._spawner.run(lambda: PodSandbox.start(uid, namespace, directories, keep_tmp=self.keep_tmp))
            self._sandboxes[uid] = sandbox
        return sandbox

    def start(self, pod: dict[str, Any], container: str, spec: ProcessSpec,
              on_line: Callable[[str], None]) -> ContainerProcess:
        sandbox = self.sandbox(pod)
        for directory in spec.directories:  # the image's layout, through the sandbox's view of its mounts
            if directory.startswith("/opt/") and ".." not in directory.split("/"):
                (Path(f"/proc/{sandbox.pid}/root") / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
        running: ContainerProcess = self._spawner.run(lambda: ContainerProcess.start(sandbox, spec, on_line))
        with self._lock:
            self._containers[(sandbox.uid, container)] = running
        return running

    def process(self, uid: str, container: str) -> ContainerProcess | None:
        with self._lock:
            return self._containers.get((uid, container))

    def stop_pod(self, uid: str) -> None:
        """Stop the pod's containers, then its sandbox (when the pod is finished or gone)."""
        with self._lock:
            containers = [self._containers.pop(k) for k in [k for k in self._containers if k[0] == uid]]
            sandbox = self._sandboxes.pop(uid, None)
        for running in containers:
            running.stop(grace=0.5)
        if sandbox is not None:
            sandbox.stop()

    def has_sandbox(self, uid: str) -> bool:
        with self._lock:
            return uid in self._sandboxes

    def stop_all(self) -> None:
        with self._lock:
            uids = {*self._sandboxes, *(k[0] for k in self._containers)}
        for uid in uids:
            self.stop_pod(uid)

    def teardown(self, grace: float = TEARDOWN_GRACE_SECONDS) -> None:
        """Stop every pod and wait until none of their processes is left (the kubelet stopping, or this
        process ending): SIGTERM to every container's group, SIGKILL after `grace`, then the sandboxes."""
        reaper.unregister(self._reaper_token)
        with self._lock:
            containers = list(self._containers.values())
            sandboxes = list(self._sandboxes.values())
            self._containers.clear()
            self._sandboxes.clear()
        deadline = time.monotonic() + grace
        for running in [c for c in containers if c.terminate()]:  # the grace is one for all of them
            wait_group_ended(running.pid, timeout=max(0.0, deadline - time.monotonic()))
        for running in containers:
            running.kill_group()
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.process.wait(5)
        for running in containers:  # their other processes too (without a PID namespace, nothing else waits)
            wait_group_ended(running.pid, timeout=10)
        for sandbox in sandboxes:
            sandbox.stop()


def wait_group_ended(pgid: int, timeout: float) -> bool:
    """Wait until no process of group `pgid` runs (a zombie has ended: it only waits to be reaped); False on
    timeout. A SIGKILLed process runs until the kernel has torn it down."""
    deadline = time.monotonic() + timeout
    while signal_group(pgid, 0) and not _only_zombies(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _only_zombies(pgid: int) -> bool:
    """Whether every process left in group `pgid` has exited (zombies wait for whoever reaps them)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return False
    return True


def volume_directories(pod: dict[str, Any]) -> list[str]:
    """The pod's volume mount paths under /opt: they exist in its sandbox like emptyDirs would."""
    spec = pod.get("spec", {})
    paths = {str(m.get("mountPath", "")) for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
             for m in c.get("volumeMounts") or []}
    return sorted(p for p in paths if p.startswith("/opt/") and ".." not in p.split("/"))


# ------------------------------------------------------------------------------------------------
# A container's environment, resolved as the kubelet does


_FIELD_PATHS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "metadata.name": lambda p: p["metadata"].get("name"),
    "metadata.namespace": lambda p: p["metadata"].get("namespace"),
    "metadata.uid": lambda p: p["metadata"].get("uid"),
    "spec.nodeName": lambda p: p.get("spec", {}).get("nodeName"),
    "spec.serviceAccountName": lambda p: p.get("spec", {}).get("serviceAccountName"),
    "status.podIP": lambda p: p.get("status", {}).get("podIP"),
    "status.hostIP": lambda p: p.get("status", {}).get("hostIP"),
}
_LABEL_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def container_environment(kube: Any, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """PATH/HOSTNAME/HOME defaults, then envFrom, then env (values, $(VAR) references, valueFrom)."""
    namespace = str(pod["metadata"].get("namespace", ""))
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": str(pod["metadata"].get("name", "")), "HOME": "/"}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for key, kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = source.get(key)
            if ref:
                env.update({prefix + k: v for k, v in _object_data(kube, kind, namespace, ref.get("name", "")).items()})
    for item in container.get("env") or []:
        name = str(item.get("name", ""))
        if "value" in item or "valueFrom" not in item:
            env[name] = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(item.get("value") or ""))
            continue
        value = _value_from(kube, pod, namespace, item["valueFrom"])
        if value is not None:
            env[name] = value
    return env


def _value_from(kube: Any, pod: dict[str, Any], namespace: str, source: dict[str, Any]) -> str | None:
    if "fieldRef" in source:
        path = str(source["fieldRef"].get("fieldPath", ""))
        labelled = _LABEL_FIELD.match(path)
        if labelled:
            return str((pod["metadata"].get(labelled.group(1)) or {}).get(labelled.group(2), ""))
        getter = _FIELD_PATHS.get(path)
        return str(getter(pod) or "") if getter else None
    for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        ref = source.get(key)
        if ref:
            return _object_data(kube, kind, namespace, ref.get("name", "")).get(ref.get("key", ""))
    return None


def _object_data(kube: Any, kind: str, namespace: str, name: str) -> dict[str, str]:
    """A ConfigMap's or Secret's data as text (the kubelet has checked they exist before starting)."""
    from lmeval_setup.kube.client import resource_path

    obj = kube.get_or_none(resource_path("", "v1", kind, namespace, name)) if name else None
    data = dict((obj or {}).get("data") or {})
    if kind == "secrets":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return {k: str(v) for k, v in data.items()}


# ------------------------------------------------------------------------------------------------
# The Go streaming server in front of the Python kubelet


class StreamServer:
    """`kubelet-stream`: serves pods/exec and proxies the rest to the Python kubelet on `backend_port`."""

    def __init__(self, binary: Path, cert_pem: bytes, key_pem: bytes, backend_port: int, log_path: Path | None) -> None:
        self.binary = binary
        self._pem = cert_pem + b"\n" + key_pem
        self.backend_port = backend_port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> int:
        stderr: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log_path.open("ab")
        argv = [str(self.binary), "--backend", f"https://127.0.0.1:{self.backend_port}", "--listen", "127.0.0.1:0"]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                        env={"PATH": DEFAULT_PATH}, preexec_fn=_set_pdeathsig)
        if stderr is not subprocess.DEVNULL:
            stderr.close()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(self._pem)  # the key travels by pipe, never through a file
        self.process.stdin.close()
        line = _read_line(self.process.stdout, timeout)
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"kubelet-stream did not start within {timeout:.0f} s ({line or 'no output'})")
        self.port = int(line.split()[1])
        return self.port

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
