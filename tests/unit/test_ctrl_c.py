"""Ctrl-C is exit 130 ("interrupted"), as bootstrap's signal handling and every shell expect.

click turns a KeyboardInterrupt into click.Abort, so the CLI's own KeyboardInterrupt branch never ran
and Ctrl-C came out as "aborted", exit 2 (a usage error).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lmeval_setup.lint
from lmeval_setup.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_ctrl_c_during_a_command_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lmeval_setup.lint, "lint_paths", interrupted)
    (tmp_path / "job.yaml").write_text("kind: LMEvalJob\n")
    with pytest.raises(SystemExit) as exc:
        main(["lint", str(tmp_path / "job.yaml")])
    assert exc.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted"


# A command whose Ctrl-C lands in code run from a string, as one during the doctor's imports does when a
# dataclass's generated methods are being made; the CLI is started with `python -m`, as the tests start it.
INTERRUPTED_IN_GENERATED_CODE = """
import lmeval_setup.lint
from lmeval_setup.cli.main import main

def interrupted(*args, **kwargs):
    exec("raise KeyboardInterrupt")

lmeval_setup.lint.lint_paths = interrupted
main()
"""


def test_ctrl_c_through_generated_code_exits_130_under_python_m(tmp_path: Path) -> None:
    """CPython's _Py_UnhandledKeyboardInterrupt, set by the exec and never cleared under -m, made the process
    kill itself with SIGINT at exit (returncode -2) after it had printed "interrupted" and called
    sys.exit(130): test_interrupts' doctor-SIGINT case, 3 runs in 60 under load."""
    (tmp_path / "interrupted_cli.py").write_text(INTERRUPTED_IN_GENERATED_CODE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    (tmp_path / "job.yaml").write_text("kind: LMEvalJob\n")
    proc = subprocess.run([sys.executable, "-m", "interrupted_cli", "lint", "job.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr.strip()) == (130, "interrupted")
