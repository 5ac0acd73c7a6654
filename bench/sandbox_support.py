"""What the sandbox benchmarks share: a control plane with an audit log, one client identity per measured
tool, request counts read back from the apiserver's audit log, and toxiproxy (a latency toxic between a
client and the apiserver, as a network path of that round-trip time would add).

Attribution: every measured tool connects as its own user (a client certificate from the sandbox CA, in
system:masters), and every sample records its wall-clock window. A request counts for a sample when its
user matches and it was received inside the window, so simulator and controller-manager traffic (the
admin user) and the other tools' requests never leak into a figure, even across process boundaries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# "create" on these is a question to the apiserver, never stored: not a write to the cluster.
REVIEW_RESOURCES = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews",
                              "tokenreviews", "localsubjectaccessreviews"})


@dataclass
class Window:
    """One measured run: who made the requests and when (UTC, as the audit log stamps them)."""

    user: str
    began: dt.datetime
    ended: dt.datetime
    seconds: float


@contextmanager
def window(user: str) -> Iterator[list[Window]]:
    """Time the body; the caller reads the Window from the yielded one-element list afterwards."""
    out: list[Window] = []
    began, start = dt.datetime.now(dt.UTC), time.perf_counter()
    try:
        yield out
    finally:
        out.append(Window(user, began, dt.datetime.now(dt.UTC), time.perf_counter() - start))


@dataclass
class Requests:
    total: int = 0
    writes: int = 0  # persisted writes (reviews excluded)
    reviews: int = 0  # SelfSubjectAccessReviews and the like
    by_verb: Counter[str] = field(default_factory=Counter)


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def audit_events(path: Path) -> list[dict[str, object]]:
    """ResponseComplete events (one per finished request; watches also log ResponseStarted)."""
    events = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("stage") == "ResponseComplete":
            events.append(event)
    return events


def count(events: list[dict[str, object]], win: Window, slack: float = 0.05) -> Requests:
    """The requests `win.user` made during `win` (slack: clock granularity between us and the apiserver)."""
    lo, hi = win.began - dt.timedelta(seconds=slack), win.ended + dt.timedelta(seconds=slack)
    found = Requests()
    for event in events:
        if (event.get("user") or {}).get("username") != win.user:  # type: ignore[union-attr]
            continue
        if not lo <= _stamp(str(event["requestReceivedTimestamp"])) <= hi:
            continue
        verb = str(event.get("verb"))
        resource = (event.get("objectRef") or {}).get("resource")  # type: ignore[union-attr]
        found.total += 1
        found.by_verb[verb] += 1
        if verb in WRITE_VERBS:
            if resource in REVIEW_RESOURCES:
                found.reviews += 1
            else:
                found.writes += 1
    return found


def wait_for_audit_flush(path: Path, settle: float = 1.0) -> None:
    """The log backend writes as requests finish; give the last ones a moment to reach the file."""
    deadline, size = time.monotonic() + 10, -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now == size:
            return
        size = now
        time.sleep(settle)


def rss_mib(pids: list[int]) -> float:
    """Resident memory of the given processes (VmRSS), in MiB; vanished processes count 0."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def group_pids(pgids: list[int]) -> list[int]:
    """Every process whose process group is one of `pgids` (the sandbox runs each part in its own session)."""
    wanted, pids = set(pgids), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in wanted:  # fields after the command: state, ppid, pgrp, ...
            pids.append(int(entry.name))
    return pids


# -- network latency: toxiproxy between a client and the sandbox apiserver ---------------------------------
# Built by `make peers` (tools/build-peers.sh) from the Go module proxy into the peers cache.
TOXIPROXY_VERSION = "v2.12.0"


def peers_dir() -> Path:
    base = os.environ.get("LMEVAL_PEERS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lmeval-setup", "peers")
    return Path(base)


# How the report names the cache: no absolute path of the machine goes into bench/REPORT.md.
PEERS_DISPLAY = "~/.cache/lmeval-setup/peers (or $LMEVAL_PEERS_DIR)"


def peer(name: str, version: str) -> Path | None:
    path = peers_dir() / f"{name}-{version}"
    return path if os.access(path, os.X_OK) else None


class Toxiproxy:
    """toxiproxy-server on a free port, one proxy to the apiserver, and its latency toxic."""

    def __init__(self, binary: Path, upstream: str, workdir: Path) -> None:
        from lmeval_setup.sandbox.controlplane import free_port

        self.api = f"http://127.0.0.1:{free_port()}"
        self.listen = f"127.0.0.1:{free_port()}"
        with (workdir / "toxiproxy.log").open("wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port",
                                             self.api.rsplit(":", 1)[1]],
                                            stdout=log, stderr=log, start_new_session=True)
        self._wait()
        self._call("POST", "/proxies", {"name": "apiserver", "listen": self.listen, "upstream": upstream})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text.strip() else None

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self._call("GET", "/version")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("toxiproxy-server did not start")

    def set_rtt(self, rtt_ms: int) -> None:
        toxics = self._call("GET", "/proxies/apiserver/toxics") or []
        for toxic in toxics:
            self._call("DELETE", f"/proxies/apiserver/toxics/{toxic['name']}")
        if rtt_ms:
            self._call("POST", "/proxies/apiserver/toxics", {
                "name": "rtt", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                "attributes": {"latency": rtt_ms, "jitter": 0}})

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def toxiproxy(binary: Path, upstream: str, workdir: Path) -> Iterator[Toxiproxy]:
    proxy = Toxiproxy(binary, upstream, workdir)
    try:
        yield proxy
    finally:
        proxy.close()


def proxied_kubeconfig(kubeconfig: Path, listen: str, target: Path) -> Path:
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://{listen}"  # the serving cert names 127.0.0.1
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target


# -- the doctor as a user runs it: a fresh interpreter ------------------------------------------------------
# The command in a fresh interpreter that reports its own peak RSS (getrusage of itself) on exit: the
# parent's RUSAGE_CHILDREN would give the largest child it ever waited for, whichever that was.
DOCTOR_MEASURED = ("import resource, sys\nfrom lmeval_setup.cli.main import main\ntry:\n    main(sys.argv[1:])\n"
                   "finally:\n    print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
                   "file=sys.stderr)\n")
# The same, from the lmeval_setup tree of another commit (the editable install's finder would win).
DOCTOR_MEASURED_FROM_TREE = ("import sys\nsys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in "
                             "getattr(f, '__name__', '')]\nsys.path.insert(0, sys.argv.pop(1))\n" + DOCTOR_MEASURED)


@dataclass
class DoctorRun:
    wall_s: float
    cpu_s: float  # user + system of the doctor process: its own cost, whatever the machine's load
    rss_mib: float
    report: dict[str, Any]  # the -o json document, or {"error": the end of stderr}
    code: int


def run_doctor(kubeconfig: Path, *args: str, tree: Path | None = None, timeout: float = 900) -> DoctorRun:
    """`doctor -A -o json` (or `doctor *args -o json`) in a fresh interpreter: this checkout's, or the
    lmeval_setup tree extracted from another commit."""
    import resource
    import sys

    launch = [DOCTOR_MEASURED] if tree is None else [DOCTOR_MEASURED_FROM_TREE, str(tree)]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LMEVAL_DEBUG")}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, began = usage.ru_utime + usage.ru_stime, time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", *launch, "doctor", *(args or ("-A",)), "-o", "json",
                           "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, check=False,
                          timeout=timeout, env=env)
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = next((int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("maxrss_kib")), 0)
    report = json.loads(proc.stdout) if proc.stdout.startswith("{") else {"error": proc.stderr[-400:]}
    return DoctorRun(wall, usage.ru_utime + usage.ru_stime - cpu, rss / 1024, report, proc.returncode)


def attributed_from_log(report: dict[str, Any]) -> int:
    """Findings of a doctor report whose evidence quotes a log: failures explained by what the pod printed."""
    return sum(1 for f in report.get("findings", []) if any(e.get("source") == "log" for e in f.get("evidence", [])))
