"""tools/compile_collections.py (issue 15: the venv installs in half the CPU): the `ansible` package goes in
uncompiled, and only what Ansible and ansible-lint load is compiled, so no process here compiles
kubernetes.core from source again and the ~100 unused collections cost nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from testsupport import load_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tool() -> Any:
    return load_tool("compile_collections")


def _module(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("VALUE = 1\n")
    return path


def _compiled(source: Path) -> bool:
    return Path(importlib.util.cache_from_source(str(source))).is_file()


def test_only_the_loaded_collections_are_compiled(tool: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ansible_collections"
    loaded = [
        _module(root, "kubernetes/core/plugins/modules/k8s.py"),
        _module(root, "kubernetes/core/plugins/module_utils/common.py"),
        _module(root, "community/general/plugins/become/doas.py"),
        _module(root, "containers/podman/plugins/become/podman_unshare.py"),
        _module(root, "ansible_release.py"),
    ]
    unused = [
        _module(root, "community/general/plugins/modules/apk.py"),
        _module(root, "amazon/aws/plugins/modules/ec2_instance.py"),
        _module(root, "kubernetes/other/plugins/modules/x.py"),
    ]
    monkeypatch.setattr(tool, "collections_root", lambda: root)

    assert tool.main() == 0

    assert [source for source in loaded if not _compiled(source)] == []
    assert [source for source in unused if _compiled(source)] == []


def test_a_venv_without_the_cluster_extra_is_left_alone(tool: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool, "collections_root", lambda: tmp_path / "absent")
    assert tool.main() == 0
    assert not (tmp_path / "absent").exists()


def test_this_venvs_kubernetes_core_has_bytecode(tool: Any) -> None:
    """What `make venv` ran: the role's collection is compiled, so no Ansible process compiles it again."""
    root = tool.collections_root()
    core = root / "kubernetes" / "core"
    if not core.is_dir():
        pytest.skip(f"kubernetes.core is not installed under {root} (the cluster extra)")
    sources = sorted(core.rglob("*.py"))
    assert sources
    assert [str(source.relative_to(root)) for source in sources if not _compiled(source)] == []
