#!/usr/bin/env bash
# `make demo`: the main job against the local sandbox. Grows with the sandbox and bootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/python" - <<'PY'
import tempfile, time
from pathlib import Path
from lmeval_setup.sandbox.controlplane import ControlPlane
with tempfile.TemporaryDirectory() as d:
    plane = ControlPlane(Path(d))
    plane.start()
    print(f"control plane ready in {plane.started_in:.1f}s: kubectl --kubeconfig {plane.kubeconfig} get ns")
    plane.stop()
PY
