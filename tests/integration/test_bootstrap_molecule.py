"""`molecule test` for the lmeval.setup.bootstrap role: create (sandbox), converge, idempotence, verify, destroy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup" / "roles" / "bootstrap"

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]


def test_molecule_scenario_passes(controlplane: object, tmp_path: Path) -> None:
    # `controlplane` only makes the test skip (or fail under LMEVAL_REQUIRE_CONTROLPLANE) without binaries;
    # the scenario starts its own sandbox with `lmeval-setup sandbox up --name molecule`.
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule"),
        "TMPDIR": str(tmp_path),
        "NO_COLOR": "1",
    }
    proc = subprocess.run([str(venv_bin / "molecule"), "test"], cwd=ROLE, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
