"""The sandbox's build caches share one rule: an explicit variable, else $XDG_CACHE_HOME/lmeval-setup/<kind>."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmeval_setup.sandbox import controlplane, jobimage, operator_build


def test_every_cache_follows_xdg_and_its_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LMEVAL_CONTROLPLANE_DIR", "LMEVAL_JOBIMAGE_ROOT", "LMEVAL_OPERATOR_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "lmeval-setup"
    assert controlplane.default_binary_dir() == root / "controlplane" / controlplane.K8S_VERSION
    assert jobimage.cache_root() == root / "jobimage"
    assert operator_build.cache_root() == root / "operator"
    monkeypatch.setenv("LMEVAL_OPERATOR_DIR", str(tmp_path / "op"))
    monkeypatch.setenv("LMEVAL_JOBIMAGE_ROOT", str(tmp_path / "img"))
    monkeypatch.setenv("LMEVAL_CONTROLPLANE_DIR", str(tmp_path / "bin"))
    assert (operator_build.cache_root(), jobimage.cache_root(), controlplane.default_binary_dir()) == (
        tmp_path / "op", tmp_path / "img", tmp_path / "bin")
