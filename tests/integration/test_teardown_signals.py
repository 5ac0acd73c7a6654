"""A test run that is killed leaves nothing running (issue 12).

Control-plane processes run in sessions of their own and job processes in process groups of their own, so
nothing takes them down with the process that started them: before sandbox/reaper.py only atexit stopped
them, which SIGTERM's default action skips, and a SIGTERM'd pytest left etcd and kube-apiservers behind.
Here a child process stands for the test run (a pytest worker): it starts a real control plane and a pod
whose container has children of its own, and then is sent SIGTERM (CI's timeout, `kill`), or its parent
(the xdist controller) is killed.
"""

from __future__ import annotations

import json
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

TEST_RUN = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.podruntime import DEFAULT_PATH, PodRuntime, ProcessSpec

    state = ControlPlane(Path(sys.argv[1])).start()
    facts = {"pgids": state.pgids, "container": None}
    if PodRuntime.available():
        pod = {"metadata": {"uid": "u1", "namespace": "ns", "name": "job"}, "spec": {"containers": []}}
        script = "sleep 600 & sleep 600 & echo started; wait"
        running = PodRuntime().start(pod, "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                                     lambda line: None)
        facts["container"] = running.pid
    print(json.dumps(facts), flush=True)
    time.sleep(600)
""")

# The xdist controller: starts the worker (the test run above) and is then killed without a word.
CONTROLLER = textwrap.dedent("""
    import subprocess, sys, time
    worker = subprocess.Popen([sys.executable, *sys.argv[1:]])
    print(worker.pid, flush=True)
    time.sleep(600)
""")


def start_test_run(tmp_path: Path, via_controller: bool) -> tuple[subprocess.Popen[str], int, dict[str, Any]]:
    """(the process we can signal, the test run's pid, what it started)."""
    script = tmp_path / "test_run.py"
    script.write_text(TEST_RUN)
    args = [str(script), str(tmp_path / "plane")]
    if via_controller:
        controller = tmp_path / "controller.py"
        controller.write_text(CONTROLLER)
        args = [str(controller), *args]
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    run_pid = int(process.stdout.readline()) if via_controller else process.pid
    line = process.stdout.readline()
    assert line, "the test run did not start its control plane"
    return process, run_pid, json.loads(line)


@pytest.mark.parametrize("how", ["sigterm", "parent-killed"])
def test_a_killed_test_run_leaves_no_control_plane_or_job_process(tmp_path: Path, how: str) -> None:
    require_controlplane_binaries()
    process, run_pid, facts = start_test_run(tmp_path, via_controller=how == "parent-killed")
    run = processsupport.identity(run_pid)
    assert run is not None
    tree = processsupport.wait_for_descendants(facts["container"], 3) if facts["container"] else set()
    if PodRuntime.available():
        assert len(tree) >= 3, tree
    pgids = dict(facts["pgids"])
    assert pgids and all(group_alive(p) for p in pgids.values()), pgids
    try:
        if how == "sigterm":
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == -signal.SIGTERM  # it still ends as killed by SIGTERM
        else:
            process.kill()
            process.wait(10)
            assert processsupport.survivors({run}, timeout=60) == set(), "the orphaned test run carried on"
        deadline = time.monotonic() + 10
        while any(group_alive(p) for p in pgids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {n: p for n, p in pgids.items() if group_alive(p)} == {}
        assert processsupport.survivors(tree, timeout=5) == set()
    finally:
        _cleanup(process, run_pid, pgids, tree)


def _cleanup(process: subprocess.Popen[str], run_pid: int, pgids: dict[str, int], tree: set[Any]) -> None:
    """Whatever the outcome, this test leaves nothing running either."""
    import contextlib
    import os

    for pid in [process.pid, run_pid, *(p for p, _ in tree if processsupport.alive((p, _)))]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pgid in pgids.values():
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
