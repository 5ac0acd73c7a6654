"""Control-plane plumbing that needs no binaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.sandbox.controlplane import K8S_VERSION, ControlPlane

REPO = Path(__file__).resolve().parents[2]


def test_missing_binaries_is_a_one_line_prerequisite_error(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError) as err:
        ControlPlane(tmp_path / "w", tmp_path / "no-binaries").start()
    assert "build them with" in err.value.one_line() and "\n" not in err.value.one_line()


def test_python_and_go_wrapper_agree_on_the_kubernetes_version() -> None:
    gomod = (REPO / "tools/k8sbin/go.mod").read_text()
    assert re.search(rf"^require k8s\.io/kubernetes {re.escape(K8S_VERSION)}$", gomod, re.M)
    staging = set(re.findall(r"=> k8s\.io/[a-z0-9-]+ (v0\.\d+\.\d+)", gomod))
    assert staging == {"v0." + K8S_VERSION.removeprefix("v1.")}
