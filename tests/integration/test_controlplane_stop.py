"""A throw-away control plane ends at once (issue 15 item 5): `stop(grace=0)` SIGKILLs right after SIGTERM.

On SIGTERM etcd takes ~7 s and kube-apiserver ~11 s to exit, so the default 3 s grace is always spent in
full; the suite's per-test planes (conftest's `new_controlplane`, 61 of them) stop without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from testsupport import require_controlplane_binaries

from lmeval_setup.sandbox.controlplane import ControlPlane, group_alive

pytestmark = pytest.mark.controlplane


def test_stop_without_grace_ends_every_process_at_once(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, require_controlplane_binaries())
    pgids = plane.start().pgids
    assert set(pgids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    began = time.monotonic()
    plane.stop(grace=0.0)
    took = time.monotonic() - began
    assert not [name for name, pgid in pgids.items() if group_alive(pgid)]
    # The graceful stop cannot take less than its 3 s grace (the apiserver is still draining by then).
    assert took < 2.0, f"stop(grace=0) took {took:.1f} s"
