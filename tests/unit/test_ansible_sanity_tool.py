"""tools/ansible_sanity.py (issue 13 leftover 5): ansible-test's per-version tests (compile, import) run on every
module Python version with a working interpreter here, not on 3.11 alone; a `python3.X` on PATH that does not run
(a pyenv shim of an unselected version, which made ansible-test fail) is kept off PATH, and the missing versions
are named. Fake interpreters (shell scripts answering the version check) keep this test fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testsupport import load_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tool() -> Any:
    return load_tool("ansible_sanity")


def _script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_every_version_with_a_working_interpreter_is_checked_and_shims_are_kept_off_path(
        tool: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shims, venv_bin = tmp_path / "shims", tmp_path / "venv" / "bin"
    for version in tool.module_python_versions():
        _script(shims / f"python{version}", f"echo 'pyenv: python{version}: command not found' >&2; exit 127")
    _script(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.12", "echo 3.12")
    _script(venv_bin / "python3.11", "echo 3.11")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", f"{shims}:/usr/bin:/bin")
    path, versions, missing = tool.sanity_path(str(venv_bin))
    assert versions == ["3.11", "3.12"]
    assert set(missing) == set(tool.module_python_versions()) - {"3.11", "3.12"}
    entries = path.split(":")
    assert entries[:2] == [str(venv_bin), str(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin")]
    assert str(shims) not in entries and "/usr/bin" in entries


def test_ansible_test_is_not_limited_to_one_python(tool: Any, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(tool, "HOME", tmp_path)
    monkeypatch.setattr(tool, "sanity_path", lambda _bin: ("/usr/bin", ["3.11", "3.12"], ["3.8"]))
    monkeypatch.setattr(subprocess, "run", lambda argv, **_: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    monkeypatch.setattr(sys, "argv", ["ansible_sanity.py", "--test", "compile"])
    assert tool.main() == 0
    (argv,) = ran
    assert argv[1:] == ["sanity", "--color", "no", "--test", "compile"]  # no --python: every version on PATH
