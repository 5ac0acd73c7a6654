"""Run the sandbox's simulators: the platform operator, the kubelet, the TrustyAI operator, KServe's predictors.

As a background process (what `sandbox up` starts, detached, in its own session):

    python -m lmeval_setup.sandbox.runner --workdir DIR --profile P

it connects with DIR/kubeconfig, runs every simulator as a thread until SIGTERM/SIGINT, and writes
DIR/runner.json ({"pid", "profile", "simulators", "missing", "started", "components"}) once the
simulators run, refreshed every second when it changed, plus a log in DIR/logs/runner.log. In-process (tests),
`harness.running_sandbox` uses `start_simulators` directly.

`components` is what `sandbox status` shows: component name -> {"mode": "simulated" | "real",
"running", and when known "pid", "port", "version", "commit", "detail"}. Every simulator is listed as
simulated; a simulator that runs (or stands in for) something real says so through an optional
`describe(self) -> dict[str, dict]` returning entries for the components it runs, merged over its own,
e.g. {"trustyai-operator": {"mode": "real", "commit": "1a2b3c4", "pid": 4242}} or
{"lm-eval": {"mode": "real", "version": "0.4.8"}}. `describe` is called from the runner's thread, so it
must only read.

Simulator interface: a class with `__init__(self, kube: Kube, release: Release, **kw)` and
`run(self, stop: threading.Event) -> None` that blocks until `stop` is set. Keyword arguments passed:
`profile` (releases.Profile), `version` (status.release.version), `workdir` (the control plane's
directory) and `cert_pem` / `key_pem`: a serving certificate the apiserver trusts for the kubelet's
loopback log endpoint (the control plane's own server certificate: same CA, SAN 127.0.0.1). Modules are
imported lazily: a simulator whose module does not exist yet (or fails to start) is reported as
missing, the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.kube.client import Kube
from lmeval_setup.platform.releases import Profile

RUNNER_STATE = "runner.json"
# (name, module, class): the platform operator is ours; kubelet and TrustyAI operator are siblings.
SIMULATORS: tuple[tuple[str, str, str], ...] = (
    ("platform-operator", "lmeval_setup.sandbox.platform_operator", "PlatformOperator"),
    ("kubelet", "lmeval_setup.sandbox.kubelet", "Kubelet"),
    ("trustyai-operator", "lmeval_setup.sandbox.trustyai_operator", "TrustyAIOperator"),
    # KServe's predictor Services, with a vLLM stand-in the apiserver's service proxy reaches (doctor --fix)
    ("kserve-controller", "lmeval_setup.sandbox.predictor", "KServeController"),
)

log = logging.getLogger("lmeval_setup.sandbox.runner")


@dataclass
class RunningSimulator:
    name: str
    instance: Any
    _: KW_ONLY
    thread: threading.Thread
    stop: threading.Event
    failure: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


def load_simulator(module_name: str, class_name: str) -> type | None:
    """The simulator class, or None when its module is not written yet (or does not import)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        log.warning("simulator %s unavailable: %s", module_name, exc)
        return None
    cls = getattr(module, class_name, None)
    return cls if isinstance(cls, type) else None


def start_one(name: str, cls: type, kubeconfig: str, profile: Profile, **kw: Any) -> RunningSimulator:
    """Each simulator gets its own connection (watches hold connections open) and its own stop event."""
    kube = Kube.connect(kubeconfig)
    instance = cls(kube, profile.release, profile=profile, version=profile.version, **kw)
    stop = threading.Event()
    running = RunningSimulator(name, instance, thread=threading.Thread(name=name, daemon=True), stop=stop)

    def body() -> None:
        try:
            instance.run(stop)
        except Exception as exc:  # a crashed simulator is reported, not hidden
            running.failure.append(f"{type(exc).__name__}: {exc}")
            log.exception("simulator %s crashed", name)

    running.thread = threading.Thread(target=body, name=name, daemon=True)
    running.thread.start()
    return running


def start_simulators(kubeconfig: str, profile: Profile, *, only: tuple[str, ...] | None = None,
                     **kw: Any) -> tuple[list[RunningSimulator], list[str]]:
    """Start every available simulator; returns (running, names of the missing ones)."""
    running, missing = [], []
    for name, module_name, class_name in SIMULATORS:
        if only is not None and name not in only:
            continue
        cls = load_simulator(module_name, class_name)
        if cls is None:
            missing.append(name)
            continue
        try:
            running.append(start_one(name, cls, kubeconfig, profile, **serving_cert(kw), **kw))
        except Exception as exc:  # a simulator that cannot start must not take the others down
            log.exception("simulator %s failed to start", name)
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
    return running, missing


def serving_cert(kw: dict[str, Any]) -> dict[str, bytes]:
    """cert_pem/key_pem from the control plane's directory, unless the caller passed its own."""
    workdir = kw.get("workdir")
    if "cert_pem" in kw or workdir is None:
        return {}
    certs = Path(workdir) / "certs"
    if not (certs / "apiserver.crt").exists():
        return {}
    return {"cert_pem": (certs / "apiserver.crt").read_bytes(), "key_pem": (certs / "apiserver.key").read_bytes()}


def stop_simulators(running: list[RunningSimulator], timeout: float = 10.0) -> None:
    for sim in running:
        sim.stop.set()
    deadline = time.monotonic() + timeout
    for sim in running:
        sim.thread.join(max(0.0, deadline - time.monotonic()))


def component_report(running: list[RunningSimulator]) -> dict[str, dict[str, Any]]:
    """The `components` of runner.json: each simulator (simulated unless it says otherwise)."""
    report: dict[str, dict[str, Any]] = {}
    for sim in running:
        entry: dict[str, Any] = {"mode": "simulated", "running": sim.alive, "pid": os.getpid()}
        port = getattr(sim.instance, "port", None)
        if isinstance(port, int) and port:
            entry["port"] = port
        if sim.failure:
            entry["detail"] = sim.failure[-1]
        report[sim.name] = entry
        for component, info in _described(sim).items():
            merged = {**report.get(component, {"running": sim.alive}), **info}
            if info.get("mode") == "real":  # a real program is not the runner: its pid/port only if given
                merged = {k: v for k, v in merged.items() if k not in ("pid", "port") or k in info}
            report[component] = merged
    return report


def _described(sim: RunningSimulator) -> dict[str, dict[str, Any]]:
    describe = getattr(sim.instance, "describe", None)
    if not callable(describe):
        return {}
    try:
        described = describe()
    except Exception:  # a status report must not take the simulators down
        log.exception("simulator %s: describe() failed", sim.name)
        return {}
    if not isinstance(described, dict):
        return {}
    return {str(k): dict(v) for k, v in described.items() if isinstance(v, dict)}


def write_state(workdir: Path, state: dict[str, Any]) -> None:
    """Replace runner.json in one step: `sandbox status` may read it at any moment."""
    partial = workdir / f".{RUNNER_STATE}.partial"
    partial.write_text(json.dumps(state, indent=2))
    os.replace(partial, workdir / RUNNER_STATE)


def main(argv: list[str] | None = None) -> int:
    from lmeval_setup.sandbox.profiles import get_profile

    parser = argparse.ArgumentParser(prog="python -m lmeval_setup.sandbox.runner")
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--profile", required=True)
    args = parser.parse_args(argv)
    workdir: Path = args.workdir
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=workdir / "logs" / "runner.log", level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(levelname)s %(message)s")
    profile = get_profile(args.profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    running, missing = start_simulators(str(workdir / "kubeconfig"), profile, workdir=workdir)
    state = {"pid": os.getpid(), "profile": profile.name, "simulators": [s.name for s in running],
             "missing": missing, "started": time.time(), "components": component_report(running)}
    write_state(workdir, state)
    log.info("running %s for profile %s (missing: %s)", state["simulators"], profile.name, missing or "none")
    reported: set[str] = set()
    while not stop.wait(1.0):  # cheap: a look at each thread, a write only when something changed
        for sim in running:
            if not sim.alive and sim.failure and sim.name not in reported:
                reported.add(sim.name)
                log.error("simulator %s stopped: %s", sim.name, sim.failure[-1])
        components = component_report(running)
        if components != state["components"]:
            state["components"] = components
            write_state(workdir, state)
    stop_simulators(running, timeout=3.0)  # threads are daemons: whatever is still in a watch dies with us
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
