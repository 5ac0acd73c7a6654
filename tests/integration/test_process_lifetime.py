"""A test run killed with SIGKILL leaves nothing running (issue 16).

test_teardown_signals covers SIGTERM and a killed parent, where sandbox/reaper.py gets to run. A SIGKILL'd
pytest-xdist worker runs no code at all: its etcd, kube-apiserver and kube-controller-manager, in sessions
of their own, ran on until sandbox/lifeline.py tied them to the worker. Here a child process stands for
the worker: it starts a real control plane from a thread that has ended by the time of the kill (a thread's
end must not take the plane down: PR_SET_PDEATHSIG would), a pod whose container has children, and a tied
process with children of its own (as realmanager_support starts a real manager out of cluster); then it
is sent SIGKILL, and every one of those processes must be gone within a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import processsupport
import pytest
from testsupport import require_controlplane_binaries

from lmeval_setup.sandbox.controlplane import group_alive
from lmeval_setup.sandbox.podruntime import PodRuntime

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(120)]

GONE_WITHIN_S = 10.0  # a few seconds at most when idle; the margin is for a loaded machine

TEST_RUN = textwrap.dedent("""
    import json, sys, threading, time
    from pathlib import Path
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.lifeline import spawn_tied
    from lmeval_setup.sandbox.podruntime import DEFAULT_PATH, PodRuntime, ProcessSpec

    started = {}
    starter = threading.Thread(target=lambda: started.update(state=ControlPlane(Path(sys.argv[1])).start()))
    starter.start()
    starter.join()  # the thread that forked etcd, the apiserver and the controller manager is gone
    facts = {"pgids": started["state"].pgids, "container": None}
    manager = spawn_tied(["sh", "-c", "sleep 600 & sleep 600 & wait"])
    facts["tied"] = manager.pid
    if PodRuntime.available():
        pod = {"metadata": {"uid": "u1", "namespace": "ns", "name": "job"}, "spec": {"containers": []}}
        script = "sleep 600 & sleep 600 & echo started; wait"
        running = PodRuntime().start(pod, "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                                     lambda line: None)
        facts["container"] = running.pid
    print(json.dumps(facts), flush=True)
    time.sleep(600)
""")


def start_test_run(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    script = tmp_path / "test_run.py"
    script.write_text(TEST_RUN)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "plane")], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the test run did not start its control plane"
    return process, json.loads(line)


def everything_started(facts: dict[str, Any]) -> set[processsupport.Proc]:
    """Each process group's leader and every process below it, and the container's tree."""
    tree: set[processsupport.Proc] = set()
    for pgid in facts["pgids"].values():
        tree |= processsupport.descendants(pgid)
    tree |= processsupport.wait_for_descendants(facts["tied"], 4)  # sh, its watchdog, two sleeps
    if facts["container"]:
        tree |= processsupport.wait_for_descendants(facts["container"], 3)
    return tree


def command(proc: processsupport.Proc) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{proc[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    return "?"


def test_a_sigkilled_test_run_leaves_no_control_plane_tied_or_job_process(tmp_path: Path) -> None:
    require_controlplane_binaries()
    process, facts = start_test_run(tmp_path)
    pgids: dict[str, int] = dict(facts["pgids"])
    tree: set[processsupport.Proc] = set()
    try:
        assert set(pgids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
        assert all(group_alive(p) for p in pgids.values()), "the plane died with the thread that started it"
        tree = everything_started(facts)
        names = " ".join(command(p) for p in tree)
        assert all(binary in names for binary in ("etcd", "kube-apiserver", "kube-controller-manager")), names
        assert len(tree) >= 3 + 4 + (3 if PodRuntime.available() else 0), tree

        process.kill()
        process.wait(10)

        left = processsupport.survivors(tree, timeout=GONE_WITHIN_S)
        assert not left, [command(p) for p in left]
        # Exited, but a group lasts until init has reaped its zombies: that may take a moment longer.
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(group_alive(p) for p in pgids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {n: p for n, p in pgids.items() if group_alive(p)} == {}
    finally:
        _cleanup(process, pgids, tree)


def _cleanup(process: subprocess.Popen[str], pgids: dict[str, int], tree: set[processsupport.Proc]) -> None:
    """Whatever the outcome, this test leaves nothing running either."""
    for proc in tree:
        if processsupport.alive(proc):
            with contextlib.suppress(OSError):
                os.kill(proc[0], signal.SIGKILL)
    for pgid in pgids.values():
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
