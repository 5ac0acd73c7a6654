"""The job image's cache key and lookup (the venv itself is exercised by tests/integration/test_lmeval_live.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmeval_setup.sandbox import jobimage


def test_not_built_is_none_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMEVAL_JOBIMAGE_ROOT", str(tmp_path))
    assert jobimage.find() is None
    assert "make jobimage" in jobimage.missing_reason()


def test_found_only_when_venv_and_hub_content_are_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMEVAL_JOBIMAGE_ROOT", str(tmp_path))
    venv = tmp_path / jobimage._key(jobimage.CONSTRAINTS)
    hub = venv / "hub" / jobimage._key(jobimage.HUBDATA)
    hub.mkdir(parents=True)
    assert jobimage.find() is None  # a venv without its stamp is a half-built one
    (venv / ".installed").touch()
    assert jobimage.find() is None  # no generated Hub content yet
    (hub / ".done").touch()
    assert jobimage.find() is None  # no name hook: cluster-local names would reach the machine's DNS
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / jobimage.HOSTS_MODULE).write_text("stale")
    assert jobimage.find() is None
    (site / jobimage.HOSTS_MODULE).write_bytes(jobimage.PODHOSTS.read_bytes())
    image = jobimage.find()
    assert image is not None and image.python == venv / "bin" / "python" and image.hub == hub


def test_a_changed_pin_is_a_new_key(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("lm_eval==0.4.12\n")
    b.write_text("lm_eval==0.4.13\n")
    assert jobimage._key(a) != jobimage._key(b)


def test_constraints_pin_the_job_image_libraries_and_no_torch() -> None:
    pins = dict(line.split("==", 1) for line in jobimage.CONSTRAINTS.read_text().splitlines()
                if line and not line.startswith("#"))
    expected = {"lm_eval": "0.4.12", "transformers": "4.48.0", "datasets": "3.1.0", "huggingface-hub": "0.36.1",
                "requests": "2.32.5", "urllib3": "2.6.3", "aiohttp": "3.13.3", "tenacity": "9.0.0",
                "tokenizers": "0.21.4", "evaluate": "0.4.3"}
    assert {k: pins.get(k) for k in expected} == expected
    assert not {"torch", "accelerate", "peft"} & {k.lower() for k in pins}
