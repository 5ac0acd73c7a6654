"""A simulated kubelet (and default scheduler) for one Node, talking only to the real apiserver.

What it does, like the real components:
- registers Node `sandbox-node` (Ready, InternalIP 127.0.0.1, kubeletEndpoint = the port of an HTTPS
  server it runs on loopback with a server certificate from the control plane's CA), so the real
  apiserver's `pods/log` proxies to it and `kubectl logs` / `Kube.pod_log()` work unchanged;
- schedules: binds unbound pods with `pods/binding` when they fit (nodeSelector, resource requests
  against allocatable, PVCs that exist); otherwise leaves them Pending with PodScheduled=False
  (Unschedulable) and a FailedScheduling event worded like the default scheduler's;
- runs pods: init containers one by one, then the containers; container statuses with
  waiting/running/terminated states, reasons, exit codes, restart counts, imageID, containerID;
  pod conditions and phase; ErrImagePull/ImagePullBackOff (image names containing "doesnotexist", or
  the annotation below), CreateContainerConfigError (env from a Secret/ConfigMap or key that does
  not exist, checked through the API on every retry), ContainerCreating + FailedMount for missing
  Secret/ConfigMap volumes;
- deletes pods that carry a deletionTimestamp with grace period 0 (what the kubelet does once the
  containers are gone), so the real kube-controller-manager's ReplicaSet replaces a deleted
  operator pod and `kubectl rollout restart` yields a new Running pod.

A container runs as a local process when a process resolver knows it (the real operator's manager and
driver; a job's `main` with the real lm-eval, under either operator: see driver_standin.py and
realoperator.py). Otherwise what it "does" is a `ContainerScript` from the first resolver that knows the
container: scenario annotations, the simulated operator's `driver` init container (it copies itself and
exits), then "run forever, ready" for everything else. A job's `main` is never a script: nothing here
makes up what lm-eval would do. Where no process can run it (no Linux namespaces, or a kubelet built
without process resolvers) it stays Waiting in CreateContainerError, saying why.

Scenario annotations on a pod (values: comma-separated container names, or "*"):
  sandbox.lmeval-setup.io/image-pull-error   the image cannot be pulled
  sandbox.lmeval-setup.io/oom-kill           the container is OOMKilled (exit 137) shortly after start
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import ipaddress
import itertools
import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from lmeval_setup.errors import ClusterError
from lmeval_setup.kube.client import JSON, MERGE_PATCH, ApiError, Kube, resource_path
from lmeval_setup.platform.releases import Profile, Release
from lmeval_setup.sandbox.apiwatch import informer
from lmeval_setup.sandbox.driverlog import DRIVER_BIN
from lmeval_setup.sandbox.podruntime import (
    ContainerProcess,
    PodRuntime,
    ProcessSpec,
    StreamServer,
    container_environment,
    stream_binary,
)
from lmeval_setup.sandbox.scripts import RUN_FOREVER, ContainerScript, LogLine, stamp_line
from lmeval_setup.sandbox.tlsaccept import HandshakeInHandlerThread, server_context

NODE_NAME = "sandbox-node"
KUBELET_VERSION = "v1.36.3"
ANNOTATION_PREFIX = "sandbox.lmeval-setup.io/"
IMAGE_PULL_ERROR_ANNOTATION = ANNOTATION_PREFIX + "image-pull-error"
OOM_KILL_ANNOTATION = ANNOTATION_PREFIX + "oom-kill"
# The named containers exit 1 at start, before any process resolver runs them (a driver that cannot copy
# itself into a volume it may not write, as on a cluster whose SCC gives the pod another UID).
CRASH_ANNOTATION = ANNOTATION_PREFIX + "crash"
# Value: a resource (ephemeral-storage, memory). Once `main` runs, the eviction manager evicts the pod for
# node pressure on it: containers killed, phase Failed, reason Evicted, the kubelet's message and event.
EVICT_ANNOTATION = ANNOTATION_PREFIX + "evict"
# Value: "WORDS" or "WORDS after N". pods/exec of a command line containing WORDS (the controller's
# `/bin/sh -c "/opt/app-root/src/bin/driver --get-status"` contains "--get-status") is refused by the runtime,
# as a container runtime whose exec breaks part-way through a job refuses it (runc cannot join the container:
# PID limit, a wedged runtime); the first N such execs of the pod succeed. Other commands are served.
EXEC_FAIL_ANNOTATION = ANNOTATION_PREFIX + "exec-fail"
# What the kubelet answers then: CRI-O's words when runc cannot start the exec process.
EXEC_FAILED_MESSAGE = ("command error: exec failed: unable to start container process: error executing setns "
                       "process: exit status 1, stdout: , stderr: (sandbox exec-fail hook)")
# The driver's own words when its --copy fails (cmd/lmes_driver/main.go, zap development encoder).
DRIVER_COPY_FAILED = ('ERROR\tdriver\tfailed to copy  binary\t{"error": "copy this binary to '
                      '/opt/app-root/src/bin/driver: open /opt/app-root/src/bin/driver: permission denied"}')
DEFAULT_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
SCHEDULER_RETRY_SECONDS = 10.0
CONFIG_RETRY_SECONDS = 3.0
IMAGE_BACKOFF_SECONDS = 2.0
WATCH_TIMEOUT_SECONDS = 30
# Every pod is stepped at least this often (besides when it is due or its object changed): what depends on
# the cluster rather than on the pod's own clock (a Secret that appears, a volume retry) is seen as soon
# as when every pod was stepped on every loop turn, which the loop makes at least once a second.
SWEEP_SECONDS = 1.0
EXECS_KEPT = 500  # the newest exec requests, for a test's diagnostics (Kubelet.execs)
POD_NETWORK = int(ipaddress.IPv4Address("10.128.0.0"))

Resolver = Callable[[JSON, JSON], ContainerScript | None]
# What a container runs as a local process (podruntime), asked before the script resolvers.
ProcessResolver = Callable[[JSON, JSON], ProcessSpec | None]
# A container that runs as a process: ready while it runs (after its probe delay), ends when the process exits.
PROCESS_SCRIPT = ContainerScript(forever=True)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(when: dt.datetime) -> str:
    frac = f"{when.microsecond:06d}000".rstrip("0")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


# ------------------------------------------------------------------------------------------------
# Container logs: shared by the kubelet (writer, HTTP server) and in-process simulators (the
# TrustyAI operator writes its manager's log lines here). Keyed by pod UID, so sandboxes in one
# process never mix.


@dataclass
class _ContainerLog:
    attempts: list[list[tuple[dt.datetime, str]]] = field(default_factory=list)
    done: bool = False  # current attempt terminated (follow readers stop)


class LogStore:
    def __init__(self) -> None:
        self._logs: dict[tuple[str, str], _ContainerLog] = {}
        self._cond = threading.Condition()

    def start_attempt(self, uid: str, container: str) -> None:
        with self._cond:
            log = self._logs.setdefault((uid, container), _ContainerLog())
            log.attempts.append([])
            log.done = False
            self._cond.notify_all()

    def append(self, uid: str, container: str, text: str, when: dt.datetime | None = None) -> None:
        with self._cond:
            log = self._logs.setdefault((uid, container), _ContainerLog())
            if not log.attempts:
                log.attempts.append([])
            log.attempts[-1].append((when or now_utc(), text))
            self._cond.notify_all()

    def finish(self, uid: str, container: str) -> None:
        with self._cond:
            log = self._logs.get((uid, container))
            if log is not None:
                log.done = True
            self._cond.notify_all()

    def lines(self, uid: str, container: str, previous: bool = False) -> list[tuple[dt.datetime, str]] | None:
        with self._cond:
            log = self._logs.get((uid, container))
            if log is None:
                return None
            index = -2 if previous else -1
            if len(log.attempts) < (2 if previous else 1):
                return None
            return list(log.attempts[index])

    def wait_for_more(self, uid: str, container: str, seen: int, timeout: float) -> tuple[list, bool]:
        """Lines after the first `seen` of the current attempt, and whether it has ended."""
        with self._cond:
            log = self._logs.get((uid, container))
            if log is None or not log.attempts:
                return [], True
            if len(log.attempts[-1]) <= seen and not log.done:
                self._cond.wait(timeout)
            return list(log.attempts[-1][seen:]), log.done

    def forget(self, uid: str) -> None:
        with self._cond:
            for key in [k for k in self._logs if k[0] == uid]:
                del self._logs[key]


POD_LOGS = LogStore()


# ------------------------------------------------------------------------------------------------
# Behaviours


def _annotated_for(pod: JSON, annotation: str, container: str) -> bool:
    value = (pod.get("metadata", {}).get("annotations") or {}).get(annotation)
    if value is None:
        return False
    names = {v.strip() for v in value.split(",")}
    return "*" in names or container in names


def annotation_resolver(pod: JSON, container: JSON) -> ContainerScript | None:
    if _annotated_for(pod, OOM_KILL_ANNOTATION, container.get("name", "")):
        return ContainerScript((), exit_code=137, linger=1.0, meta={"reason": "OOMKilled"})
    if _annotated_for(pod, CRASH_ANNOTATION, container.get("name", "")):
        text = DRIVER_COPY_FAILED if container.get("name") == "driver" else "exit status 1"
        return ContainerScript((LogLine(0.1, text, "zap" if container.get("name") == "driver" else None),),
                               exit_code=1, linger=0.2)
    return None


def eviction_message(resource: str, container: str) -> str:
    """The eviction manager's status.message (pkg/kubelet/eviction/helpers.go formats), with fixed numbers."""
    return (f"The node was low on resource: {resource}. Threshold quantity: 10Gi, available: 9532Mi. "
            f"Container {container} was using 24Gi, request is 0, has larger consumption of {resource}. ")


def driver_copy_resolver(pod: JSON, container: JSON) -> ContainerScript | None:
    """The TrustyAI job pod's `driver` init container (`/bin/driver --copy DEST`): copies itself, silently."""
    command = [str(c) for c in container.get("command") or []]
    return ContainerScript((), exit_code=0, linger=0.3) if command[:2] == ["/bin/driver", "--copy"] else None


def default_resolvers() -> list[Resolver]:
    return [annotation_resolver, driver_copy_resolver]


def is_job_main(container: JSON) -> bool:
    """A TrustyAI job pod's `main` container: the driver copy running lm-eval (the job image's work)."""
    command = [str(c) for c in container.get("command") or []]
    return bool(command) and command[0] == DRIVER_BIN


def image_pull_fails(pod: JSON, container: JSON) -> bool:
    image = str(container.get("image", ""))
    return "doesnotexist" in image or _annotated_for(pod, IMAGE_PULL_ERROR_ANNOTATION, container.get("name", ""))


def image_id(image: str) -> str:
    repo = image.split("@")[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: -(len(last) - last.index(":"))]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif "." not in repo.split("/")[0]:
        repo = f"docker.io/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


# ------------------------------------------------------------------------------------------------
# Resource arithmetic for the scheduler


def pod_ip(n: int) -> str:
    """The n-th address of the node's pod network, 10.128.0.0/14 as OpenShift's default: the last octet
    carries into the one before (10.128.0.{n} was an invalid address from the 247th pod on, the apiserver
    refused that pod's status, and it stayed Pending: the simulator's stall at a few hundred pods)."""
    return str(ipaddress.IPv4Address(POD_NETWORK + n))


def parse_quantity(text: str | int | float) -> float:
    value = str(text).strip()
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * suffixes[suffix]
    return float(value)


def pod_requests(pod: JSON) -> dict[str, float]:
    """max(sum over containers, max over init containers) per resource, as the scheduler counts."""
    spec = pod.get("spec", {})
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for name, q in ((c.get("resources") or {}).get("requests") or {}).items():
            total[name] = total.get(name, 0.0) + parse_quantity(q)
        # Extended resources given only as limits count as requests too.
        for name, q in ((c.get("resources") or {}).get("limits") or {}).items():
            if "/" in name and name not in ((c.get("resources") or {}).get("requests") or {}):
                total[name] = total.get(name, 0.0) + parse_quantity(q)
    for c in spec.get("initContainers") or []:
        for name, q in ((c.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total.get(name, 0.0), parse_quantity(q))
    return total


# ------------------------------------------------------------------------------------------------
# Runtime state


_ids = itertools.count(1)


@dataclass
class ContainerRun:
    spec: JSON
    init: bool
    _: KW_ONLY
    script: ContainerScript | None = None
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "PodInitializing"
    message: str = ""
    exit_code: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    started_mono: float = 0.0
    next_line: int = 0
    restart_count: int = 0
    container_id: str = ""
    last_terminated: JSON | None = None
    retry_at: float = 0.0  # when to retry a pull / config check / restart
    pull_failures: int = 0
    process: ContainerProcess | None = None  # set when the container runs as a local process
    events_sent: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))


def readiness_delay(container: JSON) -> float:
    """The container's readinessProbe.initialDelaySeconds (0 without a probe)."""
    probe = container.get("readinessProbe") or {}
    try:
        return max(0.0, float(probe.get("initialDelaySeconds") or 0))
    except (TypeError, ValueError):
        return 0.0


@dataclass
class PodRun:
    pod: JSON
    started: dt.datetime
    _: KW_ONLY
    ip: str
    init: list[ContainerRun]
    main: list[ContainerRun]
    last_status: JSON | None = None
    volumes_ok: bool = False
    volume_message: str = ""
    volume_retry: float = 0.0
    deleted: bool = False
    evicted: str = ""  # the eviction message, once the eviction manager has evicted the pod
    exec_hook_calls: int = 0  # execs matched by EXEC_FAIL_ANNOTATION so far (the first N are served)
    stepped_at: float = float("-inf")  # monotonic time of its last _advance

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def restart_policy(self) -> str:
        return str(self.pod.get("spec", {}).get("restartPolicy") or "Always")

    def container(self, name: str) -> ContainerRun | None:
        return next((c for c in [*self.init, *self.main] if c.name == name), None)


# ------------------------------------------------------------------------------------------------
# The kubelet


class Kubelet:
    """Registers one Node, schedules onto it and runs its pods. `run(stop)` blocks until stop."""

    def __init__(
        self,
        kube: Kube,
        release: Release | None = None,
        *,
        node_name: str = NODE_NAME,
        ca: Any = None,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
        time_scale: float = 1.0,
        resolvers: list[Resolver] | None = None,
        capacity: dict[str, str] | None = None,
        node_labels: dict[str, str] | None = None,
        log_store: LogStore | None = None,
        process_resolvers: list[ProcessResolver] | None = None,
        workdir: Path | str | None = None,
        profile: Profile | None = None,
        **_: Any,
    ) -> None:
        self.kube = kube
        self.release = release
        self.node_name = node_name
        self.time_scale = time_scale
        self.resolvers: list[Resolver] = list(resolvers) if resolvers is not None else default_resolvers()
        self.capacity = {**DEFAULT_CAPACITY, **(capacity or {})}
        self.node_labels = {
            "kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/worker": "", **(node_labels or {}),
        }
        self.logs = log_store or POD_LOGS
        if cert_pem is None or key_pem is None:
            if ca is None:
                raise ValueError("Kubelet needs ca= (a TinyCA) or cert_pem=/key_pem= to serve pods/log over TLS")
            pair = ca.server_cert(("127.0.0.1", "localhost", node_name))
            cert_pem, key_pem = pair.cert_pem, pair.key_pem
        self._cert_pem, self._key_pem = cert_pem, key_pem
        self._events: queue.Queue[tuple[str, JSON]] = queue.Queue()
        self._pods: dict[str, PodRun] = {}  # by uid, pods bound to this node
        self._pending: dict[str, tuple[float, str]] = {}  # unbound pod uid -> (retry at, last message)
        self._unbound: dict[str, JSON] = {}
        self._changed: set[str] = set()  # uids of our pods whose object arrived since their last step
        self._lock = threading.Lock()
        self._ips = itertools.count(10)
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        # Pods as processes and pods/exec need Linux namespaces; without them containers are scripts only.
        # Pods get a private /tmp; the sandbox's own directory (kubeconfig, certs) stays visible in it.
        kept = (Path(workdir),) if workdir is not None else ()
        self.runtime: PodRuntime | None = PodRuntime(keep_tmp=kept) if PodRuntime.available() else None
        self.workdir = Path(workdir) if workdir is not None else None
        self.runs_real_lm_eval = False  # the simulated operator's jobs run the job image's lm-eval
        if process_resolvers is None and profile is not None and self.workdir is not None and self.runtime:
            from lmeval_setup.sandbox.realoperator import process_resolvers as real_operator_processes

            process_resolvers = real_operator_processes(profile, self.workdir)
            if not process_resolvers:  # simulated operator: `main` runs the real lm-eval too
                from lmeval_setup.sandbox.driver_standin import process_resolvers as real_lm_eval_processes

                process_resolvers = real_lm_eval_processes(self.workdir)
                self.runs_real_lm_eval = bool(process_resolvers)
        self.process_resolvers: list[ProcessResolver] = list(process_resolvers or [])
        self._stream: StreamServer | None = None
        # (time.time(), namespace, pod, container, command, status) of each exec kubelet-stream asked about: what a
        # test that waits on a controller's exec (the driver's --shutdown) says when the wait times out.
        self.execs: collections.deque[tuple[float, str, str, str, tuple[str, ...], int]] = collections.deque(
            maxlen=EXECS_KEPT)

    def describe(self) -> dict[str, dict[str, Any]]:
        """For `sandbox status` (runner.component_report): what a job's `main` runs under the simulated
        operator (the real operator reports its own)."""
        if not self.runs_real_lm_eval:
            return {}
        from lmeval_setup.sandbox.driver_standin import REAL, lm_eval_mode

        if lm_eval_mode() != REAL:
            return {"lm-eval": {"mode": "none", "detail": "no job image venv (make jobimage) or "
                                "LMEVAL_SANDBOX_LM_EVAL=none: jobs find no lm_eval and fail"}}
        return {"lm-eval": {"mode": "real", "detail": "the job image venv, under the driver stand-in in each job pod"}}

    def register(self, resolver: Resolver) -> None:
        """Scenarios add behaviours; the newest resolver is asked first."""
        self.resolvers.insert(0, resolver)

    # -- lifecycle ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self._start_server()
        try:
            self._register_node()
            watcher = threading.Thread(target=self._watch_pods, args=(stop,), daemon=True, name="kubelet-watch")
            watcher.start()
            self._loop(stop)
        finally:
            self._stop_server()

    def start_server_only(self) -> int:
        """For tests that only exercise the log endpoint."""
        self._start_server()
        return self.port

    # -- HTTPS log server ------------------------------------------------------------------------
    def _start_server(self) -> None:
        if self._server is not None:
            return
        server = _LogServer(("127.0.0.1", 0), _LogHandler, self)
        server.tls_context = server_context(self._cert_pem, self._key_pem)  # handshakes in handler threads
        self._server = server
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True,
                         name="kubelet-https").start()
        self._start_stream_server()

    def _start_stream_server(self) -> None:
        """Put kubelet-stream at the node port: it serves pods/exec and proxies the rest to us."""
        binary = stream_binary()
        if binary is None or self.runtime is None:
            return  # no exec: the node port is the Python server's
        log_path = self.workdir / "logs" / "kubelet-stream.log" if self.workdir is not None else None
        self._stream = StreamServer(binary, self._cert_pem, self._key_pem, self.port, log_path)
        self.port = self._stream.start()

    @property
    def serves_exec(self) -> bool:
        return self._stream is not None

    def _stop_server(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
        if self.runtime is not None:
            self.runtime.teardown()  # every pod's processes, children included, are gone when this returns
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- node ------------------------------------------------------------------------------------
    def node_object(self) -> JSON:
        now = rfc3339(now_utc())
        condition = {"lastHeartbeatTime": now, "lastTransitionTime": now}
        conditions = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "kubelet has sufficient memory available", **condition},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure", **condition},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
             "message": "kubelet has sufficient PID available", **condition},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             **condition},
        ]
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node_name, "labels": self.node_labels},
            "spec": {},
            "status": {
                "capacity": self.capacity,
                "allocatable": self.capacity,
                "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                              {"type": "Hostname", "address": self.node_name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
                "nodeInfo": {
                    "machineID": hashlib.md5(self.node_name.encode()).hexdigest(),
                    "systemUUID": "4c4c4544-0000-1000-8000-000000000001",
                    "bootID": hashlib.md5(str(time.time()).encode()).hexdigest(),
                    "kernelVersion": "5.14.0-427.el9.x86_64",
                    "osImage": "Red Hat Enterprise Linux CoreOS (simulated)",
                    "containerRuntimeVersion": "cri-o://1.36.0",
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }

    def _register_node(self) -> None:
        node = self.node_object()
        path = resource_path("", "v1", "nodes", name=self.node_name)
        try:
            self.kube.create(resource_path("", "v1", "nodes"), node)
        except ApiError as exc:
            if not exc.conflict:
                raise
        # Status is a subresource: write it explicitly (a restarted kubelet also refreshes the port).
        self.kube.merge_patch(path + "/status", {"status": node["status"]})

    # -- watch -----------------------------------------------------------------------------------
    def _watch_pods(self, stop: threading.Event) -> None:
        informer(self.kube, resource_path("", "v1", "pods"), lambda kind, pod: self._events.put((kind, pod)), stop,
                 on_list=lambda pods: self._events.put(("RESYNC", {"items": pods})),
                 watch_seconds=WATCH_TIMEOUT_SECONDS)

    # -- main loop -------------------------------------------------------------------------------
    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            timeout = max(0.01, min(self._next_due() - time.monotonic(), 1.0))
            try:
                kind, obj = self._events.get(timeout=timeout)
                self._on_event(kind, obj)
                while True:  # drain what else arrived before stepping the pods
                    kind, obj = self._events.get_nowait()
                    self._on_event(kind, obj)
            except queue.Empty:
                pass
            try:
                self._step(time.monotonic())
            except ClusterError:  # the apiserver is restarting (fault tests): a real kubelet retries
                stop.wait(0.5)

    def _next_due(self) -> float:
        due = [t for t, _ in self._pending.values()]
        for run in self._pods.values():
            due.append(self._pod_due(run))
        return min(due, default=time.monotonic() + 1.0)

    def _on_event(self, kind: str, obj: JSON) -> None:
        if kind == "RESYNC":
            seen = set()
            for pod in obj.get("items", []):
                seen.add(pod["metadata"]["uid"])
                self._observe(pod)
            for uid in [u for u in self._pods if u not in seen]:
                self._forget(uid)
            for uid in [u for u in self._unbound if u not in seen]:
                self._unbound.pop(uid, None)
                self._pending.pop(uid, None)
            return
        if kind == "DELETED":
            uid = obj.get("metadata", {}).get("uid", "")
            self._forget(uid)
            self._unbound.pop(uid, None)
            self._pending.pop(uid, None)
            return
        self._observe(obj)

    def _observe(self, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        node = pod.get("spec", {}).get("nodeName")
        if not node:
            scheduler = pod.get("spec", {}).get("schedulerName") or "default-scheduler"
            if scheduler == "default-scheduler" and not pod["metadata"].get("deletionTimestamp"):
                self._unbound[uid] = pod
                self._pending.setdefault(uid, (0.0, ""))
            return
        self._unbound.pop(uid, None)
        self._pending.pop(uid, None)
        if node != self.node_name:
            return
        run = self._pods.get(uid)
        if run is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return  # finished before we (re)started: nothing left to run
            run = self._admit(pod)
        else:
            run.pod = pod
        self._changed.add(uid)

    def _forget(self, uid: str) -> None:
        self._changed.discard(uid)
        with self._lock:
            run = self._pods.pop(uid, None)
        if run is not None:
            for c in [*run.init, *run.main]:
                self.logs.finish(uid, c.name)
        if self.runtime is not None:
            self.runtime.stop_pod(uid)

    def _admit(self, pod: JSON) -> PodRun:
        status = pod.get("status", {})
        started = _parse_time(status.get("startTime")) or now_utc()
        spec = pod.get("spec", {})
        run = PodRun(
            pod=pod,
            started=started,
            ip=status.get("podIP") or pod_ip(next(self._ips)),
            init=[ContainerRun(c, True) for c in spec.get("initContainers") or []],
            main=[ContainerRun(c, False) for c in spec.get("containers") or []],
        )
        if not run.init:
            for c in run.main:
                c.reason = "ContainerCreating"
        with self._lock:
            self._pods[run.uid] = run
        return run

    # -- stepping --------------------------------------------------------------------------------
    def _step(self, now: float) -> None:
        for uid, (retry_at, last) in list(self._pending.items()):
            if retry_at <= now and uid in self._unbound:
                try:
                    self._schedule(self._unbound[uid], now)
                except ApiError:  # a claim read refused (an apiserver restarting or overloaded): as a scheduler
                    self._pending[uid] = (now + 1.0, last)  # does, try again, never end the kubelet
        for run in list(self._pods.values()):
            # Only pods that are due, changed, or not stepped for SWEEP_SECONDS: stepping every pod on
            # every loop turn made each watch event (any pod's in the cluster, our own status writes
            # included) cost a status build per pod of ours, so a few hundred pods stalled the loop.
            if run.uid not in self._changed and now - run.stepped_at < SWEEP_SECONDS and self._pod_due(run) > now:
                continue
            self._changed.discard(run.uid)
            run.stepped_at = now
            try:
                self._advance(run, now)
            except ApiError:
                continue  # a conflict or a vanished pod: the next event or step sorts it out

    def _pod_due(self, run: PodRun) -> float:
        if run.pod["metadata"].get("deletionTimestamp"):
            return 0.0
        due = [time.monotonic() + 5.0]
        for c in [*run.init, *run.main]:
            if c.state == "running" and c.script is not None and not c.script.forever:
                if c.next_line < len(c.script.lines):
                    due.append(c.started_mono + c.script.lines[c.next_line].at * self.time_scale)
                else:
                    due.append(c.started_mono + c.script.duration * self.time_scale)
            elif c.state == "running" and c.process is not None:
                due.append(time.monotonic() + 0.2)  # poll for the process's exit
            elif c.state != "running" and c.retry_at:
                due.append(c.retry_at)
            if c.state == "running" and readiness_delay(c.spec):  # becomes Ready then: write the status
                ready_at = c.started_mono + readiness_delay(c.spec)
                if ready_at > time.monotonic():
                    due.append(ready_at)
        return min(due)

    def _advance(self, run: PodRun, now: float) -> None:
        if run.pod["metadata"].get("deletionTimestamp"):
            self._terminate_and_delete(run)
            return
        if not self._volumes_ready(run, now):
            self._write_status(run)
            return
        if run.evicted:
            return  # terminal: nothing restarts, the status is written
        active = self._current_init(run)
        if active is not None:
            self._drive(run, active, now)
        else:
            for c in run.main:
                self._drive(run, c, now)
        self._evict_under_pressure(run)
        self._write_status(run)
        if self.runtime is not None and self._phase(run) in ("Succeeded", "Failed"):
            self.runtime.stop_pod(run.uid)  # a finished pod's sandbox goes, as the kubelet kills it

    def _evict_under_pressure(self, run: PodRun) -> None:
        """EVICT_ANNOTATION: once `main` runs, evict as the eviction manager does (it kills the containers,
        which the runtime then no longer knows: ContainerStatusUnknown, exit 137)."""
        resource = (run.pod["metadata"].get("annotations") or {}).get(EVICT_ANNOTATION)
        if not resource or not any(c.state == "running" for c in run.main):
            return
        run.evicted = eviction_message(resource, "main")
        self._event(run.pod, "Warning", "Evicted", None, run.evicted)
        for c in [*run.init, *run.main]:
            if c.state != "terminated":
                self._event(run.pod, "Normal", "Killing", c, f"Stopping container {c.name}", once=False)
                c.state, c.exit_code, c.reason = "terminated", 137, "ContainerStatusUnknown"
                c.message = "The container could not be located when the pod was terminated"
                c.finished_at = now_utc()
                self.logs.finish(run.uid, c.name)
        if self.runtime is not None:
            self.runtime.stop_pod(run.uid)

    def _current_init(self, run: PodRun) -> ContainerRun | None:
        for c in run.init:
            if c.state == "terminated" and c.exit_code == 0:
                continue
            return c
        return None

    def _drive(self, run: PodRun, c: ContainerRun, now: float) -> None:
        if c.state == "waiting":
            if c.retry_at and now < c.retry_at:
                return
            self._try_start(run, c, now)
        if c.state == "running":
            self._play(run, c, now)
        elif c.state == "terminated" and self._should_restart(run, c) and now >= c.retry_at:
            self._restart(run, c, now)

    def _try_start(self, run: PodRun, c: ContainerRun, now: float) -> None:
        pod = run.pod
        if image_pull_fails(pod, c.spec):
            self._pull_failed(run, c, now)
            return
        problem = self._config_problem(run, c.spec)
        if problem:
            c.reason, c.message = "CreateContainerConfigError", problem
            c.retry_at = now + CONFIG_RETRY_SECONDS
            self._event(pod, "Warning", "Failed", c, f"Error: {problem}")
            return
        spec = self._process_spec(run, c)
        if spec is None and is_job_main(c.spec) and annotation_resolver(pod, c.spec) is None:
            c.reason, c.message = "CreateContainerError", self._cannot_run_job_message()
            c.retry_at = now + CONFIG_RETRY_SECONDS
            self._event(pod, "Warning", "Failed", c, f"Error: {c.message}")
            return
        self._event(pod, "Normal", "Pulled", c, f'Container image "{c.image}" already present on machine')
        self._event(pod, "Normal", "Created", c, f"Created container: {c.name}", once=False)
        self._event(pod, "Normal", "Started", c, f"Started container {c.name}", once=False)
        self.logs.start_attempt(run.uid, c.name)
        c.process = None
        if spec is None or not self._start_process(run, c, spec):
            c.script = self._resolve(pod, c.spec)
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = now_utc()
        c.started_mono = now
        c.next_line = 0
        c.container_id = "cri-o://" + hashlib.sha256(f"{run.uid}{c.name}{c.restart_count}".encode()).hexdigest()

    def _process_spec(self, run: PodRun, c: ContainerRun) -> ProcessSpec | None:
        """What the container runs as a local process, from the first process resolver that knows it."""
        if self.runtime is None or _annotated_for(run.pod, CRASH_ANNOTATION, c.name):
            return None
        return next((s for s in (r(run.pod, c.spec) for r in self.process_resolvers) if s is not None), None)

    def _cannot_run_job_message(self) -> str:
        if self.runtime is None:
            return ("the sandbox runs a job's main container (the TrustyAI driver and lm-eval) as a process in Linux "
                    "namespaces, which this machine does not permit (unshare/nsenter as root)")
        return "this sandbox kubelet has no process resolver for the TrustyAI job image (its driver and lm-eval)"

    def _start_process(self, run: PodRun, c: ContainerRun, spec: ProcessSpec) -> bool:
        """Run the container as a local process; True also when it failed to start (StartError)."""
        assert self.runtime is not None  # _process_spec gives a spec only with a runtime
        spec = self._with_value_from(run.pod, c.spec, spec)
        uid, name = run.uid, c.name
        try:
            c.process = self.runtime.start(run.pod, name, spec, lambda line: self.logs.append(uid, name, line))
        except (OSError, RuntimeError) as exc:  # what a runtime reports as a failed container start
            c.script = ContainerScript((), exit_code=128, linger=0.0, meta={"reason": "StartError"})
            self._event(run.pod, "Warning", "Failed", c, f"Error: {exc}", once=False)
            return True
        c.script = PROCESS_SCRIPT
        return True

    def _with_value_from(self, pod: JSON, container: JSON, spec: ProcessSpec) -> ProcessSpec:
        """The kubelet puts env `valueFrom` (Secret and ConfigMap keys, pod fields) into the container's
        environment, which the process resolvers build from literal values only (e.g. the controller's
        AWS_* variables from the offline.storage.s3 Secret)."""
        names = [str(e.get("name")) for e in container.get("env") or [] if "valueFrom" in e]
        missing = [n for n in names if n not in spec.env]
        if not missing:
            return spec
        resolved = container_environment(self.kube, pod, container)
        extra = {n: resolved[n] for n in missing if n in resolved}
        return dataclasses.replace(spec, env={**spec.env, **extra}) if extra else spec

    def _pull_failed(self, run: PodRun, c: ContainerRun, now: float) -> None:
        c.pull_failures += 1
        image = c.image
        self._event(run.pod, "Normal", "Pulling", c, f'Pulling image "{image}"')
        if c.pull_failures == 1:
            c.reason = "ErrImagePull"
            c.message = (f'rpc error: code = Unknown desc = reading manifest {image.split(":")[-1]} in '
                         f'{image.rsplit(":", 1)[0]}: manifest unknown')
            self._event(run.pod, "Warning", "Failed", c, f'Failed to pull image "{image}": {c.message}')
            self._event(run.pod, "Warning", "Failed", c, "Error: ErrImagePull", key="ErrImagePull")
            c.retry_at = now + IMAGE_BACKOFF_SECONDS
        else:
            c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{image}"'
            self._event(run.pod, "Normal", "BackOff", c, c.message)
            self._event(run.pod, "Warning", "Failed", c, "Error: ImagePullBackOff", key="ImagePullBackOff")
            c.retry_at = now + IMAGE_BACKOFF_SECONDS * 5

    def _resolve(self, pod: JSON, container: JSON) -> ContainerScript:
        for resolver in self.resolvers:
            script = resolver(pod, container)
            if script is not None:
                return script
        return RUN_FOREVER

    def _play(self, run: PodRun, c: ContainerRun, now: float) -> None:
        if c.process is not None:
            code = c.process.poll()
            if code is not None:
                self._exit(run, c, ContainerScript((), exit_code=code))
            return
        script = c.script or RUN_FOREVER
        while c.next_line < len(script.lines):
            line: LogLine = script.lines[c.next_line]
            due = c.started_mono + line.at * self.time_scale
            if due > now:
                return
            when = (c.started_at or now_utc()) + dt.timedelta(seconds=due - c.started_mono)
            self.logs.append(run.uid, c.name, stamp_line(line, when), when)
            c.next_line += 1
        if script.forever or now < c.started_mono + script.duration * self.time_scale:
            return
        self._exit(run, c, script)

    def _exit(self, run: PodRun, c: ContainerRun, script: ContainerScript) -> None:
        c.state = "terminated"
        c.exit_code = script.exit_code
        c.reason = str(script.meta.get("reason") or ("Completed" if script.exit_code == 0 else "Error"))
        c.finished_at = now_utc()
        self.logs.finish(run.uid, c.name)
        if self._should_restart(run, c):
            c.retry_at = time.monotonic() + min(10.0 * 2 ** c.restart_count, 300.0) * self.time_scale
            self._event(run.pod, "Warning", "BackOff", c, f"Back-off restarting failed container {c.name} in pod "
                        f"{run.name}_{run.namespace}({run.uid})")

    def _should_restart(self, run: PodRun, c: ContainerRun) -> bool:
        if c.state != "terminated":
            return False
        policy = run.restart_policy
        if c.init:
            return c.exit_code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and c.exit_code != 0)

    def _restart(self, run: PodRun, c: ContainerRun, now: float) -> None:
        c.last_terminated = self._terminated_state(c)
        c.restart_count += 1
        c.state, c.reason, c.retry_at = "waiting", "CrashLoopBackOff", 0.0
        self._try_start(run, c, now)

    # -- config and volume checks through the API (like the kubelet's secret/configmap managers) --
    def _get(self, kind: str, namespace: str, name: str) -> JSON | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        return self.kube.get_or_none(resource_path("", "v1", plural, namespace, name))

    def _config_problem(self, run: PodRun, container: JSON) -> str:
        ns = run.namespace
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = source.get(key)
                if not ref or ref.get("optional"):
                    continue
                obj = self._get(kind, ns, ref.get("name", ""))
                if obj is None:
                    return f'{kind.lower()} "{ref.get("name", "")}" not found'
                keys = {*(obj.get("data") or {}), *(obj.get("binaryData") or {})}
                if ref.get("key") not in keys:
                    return f"couldn't find key {ref.get('key')} in {kind} {ns}/{ref.get('name', '')}"
        for source in container.get("envFrom") or []:
            for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                ref = source.get(key)
                if ref and not ref.get("optional") and self._get(kind, ns, ref.get("name", "")) is None:
                    return f'{kind.lower()} "{ref.get("name", "")}" not found'
        return ""

    def _volumes_ready(self, run: PodRun, now: float) -> bool:
        if run.volumes_ok:
            return True
        if now < run.volume_retry:
            return False
        for volume in run.pod.get("spec", {}).get("volumes") or []:
            for key, kind, name_field in (("secret", "Secret", "secretName"), ("configMap", "ConfigMap", "name")):
                ref = volume.get(key)
                if not ref or ref.get("optional"):
                    continue
                name = ref.get(name_field, "")
                if self._get(kind, run.namespace, name) is None:
                    run.volume_message = (f'MountVolume.SetUp failed for volume "{volume.get("name")}" : '
                                          f'{kind.lower()} "{name}" not found')
                    self._event(run.pod, "Warning", "FailedMount", None, run.volume_message)
                    run.volume_retry = now + CONFIG_RETRY_SECONDS
                    return False
        run.volumes_ok = True
        return True

    # -- deletion ----------------------------------------------------------------------------------
    def _terminate_and_delete(self, run: PodRun) -> None:
        """Containers stop, then the pod object goes (delete with grace 0 and a UID precondition)."""
        if run.deleted:
            return
        for c in [*run.init, *run.main]:
            if c.state == "running":
                self._event(run.pod, "Normal", "Killing", c, f"Stopping container {c.name}", once=False)
                c.state, c.exit_code, c.reason, c.finished_at = "terminated", 137, "Error", now_utc()
                self.logs.finish(run.uid, c.name)
        if self.runtime is not None:
            self.runtime.stop_pod(run.uid)
        path = resource_path("", "v1", "pods", run.namespace, run.name)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                "preconditions": {"uid": run.uid}}
        try:
            self.kube.request("DELETE", path, body=body)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
        run.deleted = True

    # -- status ------------------------------------------------------------------------------------
    def _terminated_state(self, c: ContainerRun) -> JSON:
        state: JSON = {"exitCode": c.exit_code, "reason": c.reason,
                       "startedAt": rfc3339(c.started_at or now_utc()),
                       "finishedAt": rfc3339(c.finished_at or now_utc()), "containerID": c.container_id}
        if c.message:
            state["message"] = c.message
        return {"terminated": state}

    def _container_status(self, c: ContainerRun) -> JSON:
        status: JSON = {"name": c.name, "image": c.image, "imageID": "", "restartCount": c.restart_count,
                        "ready": False, "started": False, "lastState": {}}
        if c.last_terminated:
            status["lastState"] = c.last_terminated
        if c.state == "running":
            status["state"] = {"running": {"startedAt": rfc3339(c.started_at or now_utc())}}
            status["ready"] = self._ready(c)
            status["started"] = True
        elif c.state == "terminated":
            status["state"] = self._terminated_state(c)
        else:
            waiting: JSON = {"reason": c.reason}
            if c.message:
                waiting["message"] = c.message
            status["state"] = {"waiting": waiting}
        if c.state != "waiting" or c.container_id:
            status["imageID"] = image_id(c.image)
            status["containerID"] = c.container_id
        return status

    @staticmethod
    def _ready(c: ContainerRun) -> bool:
        """Running, and past its readiness probe's initialDelaySeconds: a kubelet probes no sooner, and the probes
        here (the operator's /readyz) pass at once. The real manager builds pods from its lmes-* options only once a
        runnable started beside its controller has read them; on a cluster the probe's 5 s delay keeps those first
        moments out of whoever waits for the rollout (test_sandbox_real_operator saw a job built so)."""
        if c.state != "running" or not (c.script or RUN_FOREVER).ready:
            return False
        return time.monotonic() >= c.started_mono + readiness_delay(c.spec)

    def _phase(self, run: PodRun) -> str:
        if run.evicted:
            return "Failed"
        failed_init = any(c.state == "terminated" and c.exit_code != 0 for c in run.init)
        if failed_init and run.restart_policy == "Never":
            return "Failed"
        if self._current_init(run) is not None:
            return "Pending"
        states = [c.state for c in run.main]
        if all(s == "terminated" for s in states) and not any(self._should_restart(run, c) for c in run.main):
            return "Succeeded" if all(c.exit_code == 0 for c in run.main) else "Failed"
        if any(s == "running" for s in states) or any(c.restart_count for c in run.main):
            return "Running"
        if all(s == "terminated" for s in states):
            return "Running"
        return "Pending"

    def _conditions(self, run: PodRun, phase: str, old: list[JSON]) -> list[JSON]:
        previous = {c.get("type"): c for c in old}
        now = rfc3339(now_utc())
        completed = phase in ("Succeeded", "Failed")
        initialized = self._current_init(run) is None
        pending_init = [c.name for c in run.init if not (c.state == "terminated" and c.exit_code == 0)]
        unready = [c.name for c in run.main if not self._ready(c)]

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> JSON:
            status = "True" if ok else "False"
            prev = previous.get(kind, {})
            since = prev.get("lastTransitionTime") if prev.get("status") == status else now
            entry: JSON = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
            if reason:
                entry["reason"] = reason
            if message:
                entry["message"] = message
            return entry

        init_reason = "PodCompleted" if completed else ("" if initialized else "ContainersNotInitialized")
        init_msg = "" if initialized or completed else f"containers with incomplete status: [{' '.join(pending_init)}]"
        ready_reason = "PodCompleted" if completed else ("" if not unready else "ContainersNotReady")
        ready_msg = "" if completed or not unready else f"containers with unready status: [{' '.join(unready)}]"
        sandbox_ready = run.volumes_ok and not completed
        return [
            cond("PodReadyToStartContainers", sandbox_ready),
            cond("Initialized", initialized, init_reason, init_msg),
            cond("Ready", not unready and not completed, ready_reason, ready_msg),
            cond("ContainersReady", not unready and not completed, ready_reason, ready_msg),
            cond("PodScheduled", True),
            *([cond("DisruptionTarget", True, "TerminationByKubelet", run.evicted)] if run.evicted else []),
        ]

    def pod_status(self, run: PodRun) -> JSON:
        phase = self._phase(run)
        old = (run.last_status or {}).get("conditions") or run.pod.get("status", {}).get("conditions") or []
        status: JSON = {
            "phase": phase,
            "conditions": self._conditions(run, phase, old),
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": rfc3339(run.started),
            "qosClass": _qos_class(run.pod),
            "containerStatuses": [self._container_status(c) for c in run.main],
        }
        if run.init:
            status["initContainerStatuses"] = [self._container_status(c) for c in run.init]
        if run.evicted:
            status.update(reason="Evicted", message=run.evicted)
        return status

    def _write_status(self, run: PodRun) -> None:
        status = self.pod_status(run)
        if status == run.last_status:
            return
        path = resource_path("", "v1", "pods", run.namespace, run.name, "status")
        try:
            self.kube.request("PATCH", path, body={"status": status}, content_type=MERGE_PATCH)
        except ApiError as exc:
            if exc.not_found:
                self._forget(run.uid)
                return
            raise
        run.last_status = status

    # -- scheduling --------------------------------------------------------------------------------
    def unschedulable_reasons(self, pod: JSON) -> list[str]:
        reasons: list[str] = []
        spec = pod.get("spec", {})
        selector = spec.get("nodeSelector") or {}
        if any(self.node_labels.get(k) != v for k, v in selector.items()):
            reasons.append("1 node(s) didn't match Pod's node affinity/selector")
        free = {k: parse_quantity(v) for k, v in self.capacity.items()}
        for other in self._pods.values():
            if self._phase(other) in ("Succeeded", "Failed"):
                continue
            for k, v in pod_requests(other.pod).items():
                free[k] = free.get(k, 0.0) - v
        free["pods"] = free.get("pods", 0.0) - len(self._pods)
        for name, amount in sorted(pod_requests(pod).items()):
            if amount > free.get(name, 0.0) + 1e-9:
                reasons.append(f"1 Insufficient {name}")
        return reasons

    def _missing_claim(self, pod: JSON) -> str:
        """The scheduler's VolumeBinding verdict: a claim that does not exist, or one not bound while its
        binding is immediate (no StorageClass, or one without WaitForFirstConsumer). The sandbox has no
        provisioner: the real PersistentVolume controller binds a claim only to a PersistentVolume that
        exists, and reports the rest (FailedBinding), as on a cluster without a default StorageClass."""
        ns = pod["metadata"]["namespace"]
        for volume in pod.get("spec", {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.kube.get_or_none(resource_path("", "v1", "persistentvolumeclaims", ns, claim))
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if self._unbound_immediate(pvc):
                return "pod has unbound immediate PersistentVolumeClaims"
        return ""

    def _unbound_immediate(self, pvc: JSON) -> bool:
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return False
        storage_class = (pvc.get("spec") or {}).get("storageClassName")
        if not storage_class:
            return True
        sc = self.kube.get_or_none(resource_path("storage.k8s.io", "v1", "storageclasses", None, storage_class))
        return (sc or {}).get("volumeBindingMode") != "WaitForFirstConsumer"

    def _schedule(self, pod: JSON, now: float) -> None:
        uid = pod["metadata"]["uid"]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        claim = self._missing_claim(pod)
        reasons = self.unschedulable_reasons(pod)
        if not claim and not reasons:
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "uid": uid},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
            try:
                self.kube.create(resource_path("", "v1", "pods", ns, name, "binding"), binding)
            except ApiError:
                self._pending[uid] = (now + 1.0, "")
                return
            self._pending.pop(uid, None)
            self._unbound.pop(uid, None)
            self._event(pod, "Normal", "Scheduled", None,
                        f"Successfully assigned {ns}/{name} to {self.node_name}", component="default-scheduler")
            return
        if claim:
            message = (f"0/1 nodes are available: {claim}. preemption: 0/1 nodes are available: "
                       "1 Preemption is not helpful for scheduling.")
        else:
            only_resources = all("Insufficient" in r for r in reasons)
            preemption = ("1 No preemption victims found for incoming pod" if only_resources
                          else "1 Preemption is not helpful for scheduling")
            message = (f"0/1 nodes are available: {', '.join(reasons)}. "
                       f"preemption: 0/1 nodes are available: {preemption}.")
        last = self._pending.get(uid, (0.0, ""))[1]
        self._pending[uid] = (now + SCHEDULER_RETRY_SECONDS, message)
        if message == last:
            return
        # The scheduler's order (handleSchedulingFailure): the event is recorded, then the condition written.
        self._event(pod, "Warning", "FailedScheduling", None, message, component="default-scheduler", once=False)
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": rfc3339(now_utc())}
        with contextlib.suppress(ApiError):
            self.kube.request("PATCH", resource_path("", "v1", "pods", ns, name, "status"),
                              body={"status": {"phase": "Pending", "conditions": [condition]}},
                              content_type=MERGE_PATCH)

    # -- events ------------------------------------------------------------------------------------
    def _event(self, pod: JSON, kind: str, reason: str, c: ContainerRun | None, message: str, *,
               component: str = "kubelet", once: bool = True, key: str | None = None, **_: Any) -> None:
        """Post a core/v1 Event; `once` events are sent once per container (or pod) and reason."""
        dedupe = key or reason
        if once and c is not None:
            if dedupe in c.events_sent:
                return
            c.events_sent.add(dedupe)
        meta = pod.get("metadata", {})
        stamp = rfc3339(now_utc())
        involved: JSON = {"apiVersion": "v1", "kind": "Pod", "namespace": meta.get("namespace"),
                          "name": meta.get("name"), "uid": meta.get("uid")}
        if c is not None:
            involved["fieldPath"] = f"spec.{'initContainers' if c.init else 'containers'}{{{c.name}}}"
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": meta.get("namespace")},
            "involvedObject": involved, "reason": reason, "message": message, "type": kind,
            "source": {"component": component, **({"host": self.node_name} if component == "kubelet" else {})},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": self.node_name if component == "kubelet" else "",
        }
        with contextlib.suppress(ApiError):
            self.kube.create(resource_path("", "v1", "events", meta.get("namespace")), event)

    # -- log serving (called from HTTP threads) ----------------------------------------------------
    def find(self, namespace: str, name: str) -> PodRun | None:
        with self._lock:
            return next((r for r in self._pods.values() if r.namespace == namespace and r.name == name), None)

    def _exec_refused(self, run: PodRun, command: Sequence[str]) -> bool:
        """EXEC_FAIL_ANNOTATION: refuse this exec when its command line has the words, after the first N."""
        rule = exec_fail_rule(run.pod)
        if rule is None or rule[0] not in " ".join(command):
            return False
        with self._lock:
            run.exec_hook_calls += 1
            return run.exec_hook_calls > rule[1]

    def exec_target(self, namespace: str, name: str, container: str,
                    command: Sequence[str] = ()) -> tuple[int, JSON | str]:
        """For kubelet-stream: the process whose namespaces an exec joins, or (HTTP status, message)."""
        status, answer = self._exec_target(namespace, name, container, command)
        self.execs.append((time.time(), namespace, name, container, tuple(command), status))
        return status, answer

    def _exec_target(self, namespace: str, name: str, container: str,
                     command: Sequence[str]) -> tuple[int, JSON | str]:
        run = self.find(namespace, name)
        if run is None:
            return 404, f'pod "{name}" not found'
        c = run.container(container)
        if c is None:
            return 404, f'container not found ("{container}")'
        if c.state != "running" or self.runtime is None:
            return 500, "container is not created or running"
        if self._exec_refused(run, command):
            return 500, EXEC_FAILED_MESSAGE
        if c.process is not None:
            spec = c.process.spec
            return 200, {"pid": c.process.exec_pid, "namespaces": list(c.process.exec_namespaces),
                         "env": [f"{k}={v}" for k, v in spec.env.items()], "workingDir": spec.working_dir}
        try:  # a scripted container: the command runs in the pod's sandbox, made on first use
            sandbox = self.runtime.sandbox(run.pod)
        except (OSError, RuntimeError) as exc:
            return 500, f"pod sandbox: {exc}"
        env = container_environment(self.kube, run.pod, c.spec)
        return 200, {"pid": sandbox.pid, "namespaces": list(sandbox.namespaces),
                     "env": [f"{k}={v}" for k, v in env.items()], "workingDir": c.spec.get("workingDir") or "/"}


def exec_fail_rule(pod: JSON) -> tuple[str, int] | None:
    """EXEC_FAIL_ANNOTATION as (words, how many matching execs succeed first), None without it."""
    value = str((pod.get("metadata", {}).get("annotations") or {}).get(EXEC_FAIL_ANNOTATION) or "").strip()
    if not value:
        return None
    words, sep, count = value.rpartition(" after ")
    if sep and count.strip().isdigit() and words.strip():
        return words.strip(), int(count)
    return value, 0


def _qos_class(pod: JSON) -> str:
    containers = [*(pod.get("spec", {}).get("containers") or []), *(pod.get("spec", {}).get("initContainers") or [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k))
        == (r.get("limits") or {}).get(k) for r in resources for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------------
# HTTP


class _LogServer(HandshakeInHandlerThread):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, kubelet: Kubelet) -> None:
        super().__init__(address, handler)
        self.kubelet = kubelet


class _LogHandler(BaseHTTPRequestHandler):
    server: _LogServer
    # Keep-alive (kubelet-stream's proxy reuses its connections: no TLS handshake per log read); a `follow`
    # body is close-delimited (Connection: close), the simplest way to stream it.
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as a Go kubelet's sockets have: the headers and the body are two writes, and on a kept-alive
    # connection Nagle held the body until the headers' ACK, which the client delays 40 ms: every log read
    # through the apiserver after a connection's first took 40-50 ms (tests/unit/test_sandbox_nodelay.py).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            self._send(200, "ok")
            return
        if len(parts) == 5 and parts[:2] == ["runtime", "exec-target"]:
            command = parse_qs(url.query).get("command", [])
            namespace, pod_name, container = parts[2:]
            code, answer = self.server.kubelet.exec_target(namespace, pod_name, container, command=command)
            self._send(code, json.dumps(answer) if code == 200 else str(answer))
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._send(404, "404 page not found")
            return
        _, namespace, pod_name, container = parts
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        kubelet = self.server.kubelet
        run = kubelet.find(namespace, pod_name)
        if run is None:
            self._send(404, f'pod "{pod_name}" does not exist\n')
            return
        c = run.container(container)
        if c is None:
            self._send(400, f"container {container} is not valid for pod {pod_name}")
            return
        previous = query.get("previous", "false").lower() == "true"
        lines = kubelet.logs.lines(run.uid, container, previous=previous)
        if lines is None:
            if previous:
                self._send(400, f'previous terminated container "{container}" in pod "{pod_name}" not found')
            else:
                reason = c.reason
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    reason = "trying and failing to pull image"
                self._send(400, f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}')
            return
        selected = _select(lines, query)
        follow = query.get("follow", "false").lower() == "true" and not previous
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if not follow:
            body = _render(selected, query).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Connection", "close")  # the body ends when we close
        self.end_headers()
        self._follow(kubelet, run.uid, container, selected, len(lines), query)

    def _follow(self, kubelet: Kubelet, uid: str, container: str, first: list, seen: int, query: dict) -> None:
        """Stream until the container's current attempt ends or the client goes away."""
        budget = int(query["limitBytes"]) if query.get("limitBytes", "").isdigit() else None
        chunk = _render(first, query).encode()
        try:
            for part in _stream_parts(kubelet, uid, container, chunk, seen, query):
                if budget is not None:
                    part = part[:budget]
                    budget -= len(part)
                self.wfile.write(part)
                self.wfile.flush()
                if budget is not None and budget <= 0:
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return

    def _send(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _stream_parts(kubelet: Kubelet, uid: str, container: str, first: bytes, seen: int,
                  query: dict) -> Iterator[bytes]:
    if first:
        yield first
    while True:
        more, done = kubelet.logs.wait_for_more(uid, container, seen, timeout=1.0)
        seen += len(more)
        if more:
            yield _render(more, {"timestamps": query.get("timestamps", "false")}).encode()
        if done and not more:
            return


def _select(lines: list[tuple[dt.datetime, str]], query: dict[str, str]) -> list[tuple[dt.datetime, str]]:
    """sinceSeconds / sinceTime, then tailLines, like the kubelet's log reader."""
    since: dt.datetime | None = None
    if query.get("sinceSeconds", "").isdigit():
        since = now_utc() - dt.timedelta(seconds=int(query["sinceSeconds"]))
    elif query.get("sinceTime"):
        since = _parse_time(query["sinceTime"])
    if since is not None:
        lines = [line for line in lines if line[0] >= since]
    tail = query.get("tailLines", "")
    if tail.lstrip("-").isdigit() and int(tail) >= 0:
        lines = lines[-int(tail):] if int(tail) else []
    return lines


def _render(lines: list[tuple[dt.datetime, str]], query: dict[str, str]) -> str:
    stamps = query.get("timestamps", "false").lower() == "true"
    text = "".join((f"{rfc3339_nano(when)} " if stamps else "") + line + "\n" for when, line in lines)
    limit = query.get("limitBytes", "")
    if limit.isdigit():
        text = text.encode()[: int(limit)].decode(errors="ignore")
    return text


def debug_state(kubelet: Kubelet) -> str:
    """A one-screen summary of what the kubelet runs (for `sandbox status` and test failures)."""
    rows = []
    for run in kubelet._pods.values():
        phase = kubelet._phase(run)
        states = ", ".join(f"{c.name}={c.state}{'/' + c.reason if c.reason else ''}" for c in [*run.init, *run.main])
        rows.append(f"{run.namespace}/{run.name} {phase} [{states}]")
    return json.dumps(rows, indent=1)
