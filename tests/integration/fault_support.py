"""Fault injection for bootstrap runs: kill the sandbox's apiserver at a chosen step, deterministically.

Two triggers:
- `after_task`: the test-only callback plugin ansible_plugins/callback/lmeval_fault_pause.py blocks the
  ansible-playbook process right after the named task succeeded (before the next task is queued);
  a thread here kills the apiserver, then releases the playbook, whose next API call fails.
- `when`: a thread polls the cluster and kills the apiserver as soon as a predicate holds (for a point
  inside one task, e.g. while the restart module waits for the rollout it just started).

The environment is inherited by ansible-runner (it seeds the child's env from os.environ) and by CLI
subprocesses, so both `run()` and `lmeval-setup bootstrap` can be interrupted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testsupport import running_in_thread

from lmeval_setup.kube.client import Kube

PLUGINS = Path(__file__).resolve().parent / "ansible_plugins" / "callback"


@dataclass
class Fault:
    fired: bool = False
    at: str = ""


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def kill_apiserver_after_task(plane: Any, task: str, workdir: Path) -> Iterator[Fault]:
    """Kill the apiserver once `task` (name without the role prefix) has succeeded."""
    workdir.mkdir(parents=True, exist_ok=True)
    for marker in ("fired", "released"):
        (workdir / marker).unlink(missing_ok=True)
    fault = Fault()

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():
            if (workdir / "fired").exists():
                plane.kill_apiserver()
                fault.fired, fault.at = True, (workdir / "fired").read_text()
                (workdir / "released").write_text("")
                return
            time.sleep(0.05)

    env = {
        "ANSIBLE_CALLBACK_PLUGINS": str(PLUGINS),
        "ANSIBLE_CALLBACKS_ENABLED": "lmeval_fault_pause",
        "LMEVAL_FAULT_AFTER_TASK": task,
        "LMEVAL_FAULT_DIR": str(workdir),
    }
    with _environment(env), running_in_thread(watch, "fault-after-task", join=5):
        yield fault


@contextmanager
def kill_apiserver_when(plane: Any, predicate: Callable[[Kube], bool], what: str) -> Iterator[Fault]:
    """Kill the apiserver as soon as `predicate(kube)` is true (polled every 50 ms)."""
    kube = Kube.connect(str(plane.kubeconfig))
    fault = Fault()

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                hit = predicate(kube)
            except Exception:  # not there yet (or the apiserver is busy): look again
                hit = False
            if hit:
                plane.kill_apiserver()
                fault.fired, fault.at = True, what
                return
            time.sleep(0.05)

    with running_in_thread(watch, "fault-when", join=5):
        yield fault


def bring_the_apiserver_back(plane: Any) -> None:
    """After a fault: the apiserver again, and a fresh controller-manager. The running one would see the new
    apiserver only after its informers' backoff, which grows with each fault of a chain (up to 30 s of a
    bootstrap's rollout wait spent on it); the bootstrap under test meets the same cluster either way."""
    plane.restart_apiserver()
    plane.restart_controller_manager()
