"""A passing test run leaves nothing under the temporary directory.

A fresh-clone `make test` wrote ~9.5 GB under /tmp/pytest-of-<user> (every control plane's etcd data, job
directories, sandboxes), and pytest keeps the last three runs: the disk filled, etcd exited at start, and the run
ended with 46 errors. Passed tests' directories now go as they pass and a passing run's at its end; a failed
run keeps them (the etcd data of one let us read a job's status after the run), the last one only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TESTS = """
def test_writes_a_plane(tmp_path_factory):
    (tmp_path_factory.mktemp("plane") / "etcd").write_bytes(b"x" * 4096)

def test_writes_its_own(tmp_path):
    (tmp_path / "job").write_bytes(b"x" * 4096)
"""


def run_pytest(tmp_path: Path, tests: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A pytest session with the project's configuration and two xdist workers (as make test), in a TMPDIR
    of its own."""
    root = tmp_path / "tmpdir"
    root.mkdir()
    (tmp_path / "test_uses_tmp.py").write_text(tests)
    env = {**os.environ, "TMPDIR": str(root)}
    env.pop("PYTEST_ADDOPTS", None)
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
            "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_uses_tmp.py")]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120), root


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_passing_run_leaves_no_files_behind(tmp_path: Path) -> None:
    run, root = run_pytest(tmp_path, TESTS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert files_under(root) == []


def test_a_failing_run_keeps_what_its_failed_test_wrote(tmp_path: Path) -> None:
    run, root = run_pytest(tmp_path, TESTS + "\ndef test_fails(tmp_path):\n    (tmp_path / 'kept').write_text('x')\n"
                                             "    assert False\n")
    assert run.returncode == 1, run.stdout + run.stderr
    assert [p.name for p in files_under(root) if p.name == "kept"] == ["kept"]
