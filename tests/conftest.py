"""Shared fixtures: ../shared (fixtures and reference) and the real control plane.

Tests that need what is not here skip with the reason, never pass silently:
- `shared_dir` skips when ../shared is absent;
- `controlplane` skips when the Go-built binaries are missing (make controlplane builds them).
Set LMEVAL_REQUIRE_CONTROLPLANE=1 (CI does) to turn that skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from testsupport import require_controlplane_binaries

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"../shared not found at {SHARED} (fixtures and reference live there)")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures"


def _binaries_or_skip() -> Path:
    return require_controlplane_binaries()


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real etcd + kube-apiserver + kube-controller-manager for the whole session."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    binaries = _binaries_or_skip()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), binaries, audit_log=True)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop(grace=0.0)  # throw-away: SIGKILL at once instead of waiting 3 s for a graceful exit


@pytest.fixture(scope="session")
def kube(controlplane: object) -> object:
    from lmeval_setup.kube.client import Kube

    return Kube.connect(str(controlplane.kubeconfig))  # type: ignore[attr-defined]


@pytest.fixture
def new_controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A control plane of the test's own (~3 s): for tests that install cluster-scoped CRDs or need
    a platform nobody else touches. Started without the audit log; stopped after the test."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    binaries = _binaries_or_skip()
    plane = ControlPlane(tmp_path_factory.mktemp("own-controlplane"), binaries)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop(grace=0.0)  # throw-away: SIGKILL at once instead of waiting 3 s for a graceful exit
