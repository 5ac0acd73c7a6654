"""The control plane leaves nothing behind: stop() and a caller that exits without calling it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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
