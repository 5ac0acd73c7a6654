"""Helpers for the bootstrap tests: a sandbox per profile, and a stand-in kubelet until the sandbox's lands.

The stand-in only does what the Deployment controller needs to call a rollout done: it marks new
pods Running and Ready with a start time. When lmeval_setup.sandbox.kubelet exists, the harness
starts the real simulator and this one is not used.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from lmeval_setup.kube.client import ApiError, Kube, resource_path


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StandInKubelet:
    def __init__(self, kubeconfig: str) -> None:
        self.kube = Kube.connect(kubeconfig)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="stand-in-kubelet", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.25):
            with contextlib.suppress(Exception):
                for pod in self.kube.list_items("/api/v1/pods"):
                    if not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") != "Running":
                        self._run(pod)

    def _run(self, pod: dict[str, Any]) -> None:
        meta, now = pod["metadata"], _now()
        ready = [{"type": t, "status": "True", "lastTransitionTime": now}
                 for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        containers = [{"name": c["name"], "image": c["image"], "imageID": c["image"], "ready": True, "started": True,
                       "restartCount": 0, "state": {"running": {"startedAt": now}}}
                      for c in pod["spec"]["containers"]]
        status = {"phase": "Running", "startTime": now, "conditions": ready, "containerStatuses": containers,
                  "podIP": "10.0.0.1", "hostIP": "10.0.0.1"}
        path = resource_path("", "v1", "pods", meta["namespace"], meta["name"], "status")
        with contextlib.suppress(ApiError):
            self.kube.merge_patch(path, {"status": status})

    def __enter__(self) -> StandInKubelet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


LM_EVAL_SWITCH = "LMEVAL_SANDBOX_LM_EVAL"


@contextlib.contextmanager
def jobs_without_lm_eval() -> Iterator[None]:
    """Bootstrap tests read the pods the operator builds, never what lm-eval makes of them: their jobs' python
    has no lm-eval (they fail at once) instead of spending seconds of CPU each on the real lm-eval (the
    sandbox's default), unless the caller chose (LMEVAL_SANDBOX_LM_EVAL set)."""
    chosen = os.environ.get(LM_EVAL_SWITCH)
    if chosen is None:
        os.environ[LM_EVAL_SWITCH] = "none"
    try:
        yield
    finally:
        if chosen is None:
            os.environ.pop(LM_EVAL_SWITCH, None)


@contextlib.contextmanager
def sandbox(controlplane: Any, profile: str, scenario: str = "fresh") -> Iterator[Any]:
    """running_sandbox() with the sandbox's own kubelet, or with the stand-in when that one is missing
    or cannot start yet (the sandbox is built in parallel with bootstrap)."""
    with jobs_without_lm_eval():
        yield from _sandbox(controlplane, profile, scenario)


def _sandbox(controlplane: Any, profile: str, scenario: str) -> Iterator[Any]:
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox.harness import running_sandbox

    others = tuple(name for name, _, _ in runner.SIMULATORS if name != "kubelet")
    try:
        kubelet = runner.load_simulator(*next((m, c) for n, m, c in runner.SIMULATORS if n == "kubelet"))
        candidate = running_sandbox(controlplane, profile, scenario) if kubelet is not None else None
        box = candidate.__enter__() if candidate is not None else None
    except Exception:  # the real kubelet is not wired yet: fall back below
        candidate = box = None
    if candidate is not None:
        try:
            yield box
        finally:
            candidate.__exit__(None, None, None)
        return
    with StandInKubelet(str(controlplane.kubeconfig)), \
            running_sandbox(controlplane, profile, scenario, simulators=others) as box:
        yield box
