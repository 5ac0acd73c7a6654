"""`revert` hands the runner what the user asked for: --dry-run is check mode, never --diff (issue 16 item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from lmeval_setup.bootstrap.runner import RunOptions, RunResult
from lmeval_setup.cli import bootstrap as cli_bootstrap


@pytest.mark.parametrize("args", [["--dry-run"], []])
def test_revert_passes_dry_run_as_dry_run_only(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    seen: list[RunOptions] = []

    def fake_run(opts: RunOptions, *_: Any, **__: Any) -> RunResult:
        seen.append(opts)
        return RunResult("revert", opts.dry_run, status="successful", rc=0, clusters={})

    monkeypatch.setattr(cli_bootstrap, "run", fake_run)
    result = CliRunner().invoke(cli_bootstrap.revert, args)
    assert result.exit_code == 0, result.output
    [opts] = seen
    assert opts.dry_run == ("--dry-run" in args)
    assert opts.diff is False, "revert has no --diff: dry_run was passed as diff"
