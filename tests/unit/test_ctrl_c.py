"""Ctrl-C is exit 130 ("interrupted"), as bootstrap's signal handling and every shell expect.

click turns a KeyboardInterrupt into click.Abort, so the CLI's own KeyboardInterrupt branch never ran
and Ctrl-C came out as "aborted", exit 2 (a usage error).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import lmeval_setup.lint
from lmeval_setup.cli.main import main


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
