"""Start / stop a sandbox cluster for the Molecule scenario (until `lmeval-setup sandbox up` lands).

    python sandbox.py up WORKDIR [PROFILE]   # returns once WORKDIR/kubeconfig answers; prints its path
    python sandbox.py down WORKDIR           # stops the sandbox process group
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[5]


def serve(workdir: Path, profile: str) -> None:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from bootstrap_support import sandbox  # the harness, with a stand-in kubelet if needed

    from lmeval_setup.sandbox.controlplane import ControlPlane

    plane = ControlPlane(workdir / "cp")
    plane.start()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        with sandbox(plane, profile, "fresh"):
            (workdir / "kubeconfig.path").write_text(str(plane.kubeconfig))
            while not stop:
                time.sleep(0.5)
    finally:
        plane.stop()


def up(workdir: Path, profile: str) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "kubeconfig.path"
    marker.unlink(missing_ok=True)
    log = open(workdir / "sandbox.log", "ab")  # noqa: SIM115 (handed to the child)
    proc = subprocess.Popen([sys.executable, __file__, "serve", str(workdir), profile], stdout=log, stderr=log,
                            start_new_session=True)
    (workdir / "sandbox.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if marker.exists():
            print(marker.read_text())
            return 0
        if proc.poll() is not None:
            print((workdir / "sandbox.log").read_text()[-2000:], file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 1


def down(workdir: Path) -> int:
    pid_file = workdir / "sandbox.pid"
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(60):
            os.killpg(pid, 0)
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    command, directory = sys.argv[1], Path(sys.argv[2])
    chosen = sys.argv[3] if len(sys.argv) > 3 else "rhoai-2.22"
    if command == "serve":
        serve(directory, chosen)
    else:
        sys.exit(up(directory, chosen) if command == "up" else down(directory))
