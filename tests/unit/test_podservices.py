"""podservices: the wrapper a sandbox job's `main` runs under (see lmeval_setup/sandbox/podservices.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lmeval_setup.sandbox.podservices import model_services, plan_json, wrap_argv


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_the_command_dies_with_the_wrapper() -> None:
    """A killed pod process must not leave its driver behind (it would wait for --shutdown for ever)."""
    plan = json.dumps({"models": [], "hub": ""})
    wrapper = subprocess.Popen(wrap_argv(("sleep", "300"), plan), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _children(wrapper.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (child,) = _children(wrapper.pid)
        wrapper.send_signal(signal.SIGKILL)
        wrapper.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


def test_exit_code_and_environment_reach_the_command(tmp_path: Path) -> None:
    plan = plan_json(model_services([]), tmp_path)
    (tmp_path / "gated.json").write_text("[]")
    script = "import os,sys; print(os.environ['HF_ENDPOINT'], os.environ['LMEVAL_SANDBOX_HOSTS']); sys.exit(3)"
    done = subprocess.run(wrap_argv((sys.executable, "-c", script), plan), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3
    endpoint, hosts = done.stdout.split(" ", 1)
    assert endpoint.startswith("http://huggingface.co") and json.loads(hosts)["huggingface.co"] == "127.0.0.1"
