"""CLI skeleton: help, version, lazy imports, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lmeval_setup import __version__
from lmeval_setup.cli.main import COMMANDS, main
from lmeval_setup.errors import EXIT_CODE_MEANINGS, ClusterError, ExitCode


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *args], capture_output=True, text=True)


def test_help_lists_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for name in ("bootstrap", "doctor", "lint", "provision", "results", "scaffold", "sandbox", "revert"):
        assert name in result.stdout
    assert "Exit codes" in result.stdout


def test_every_exit_code_is_in_the_help_and_the_readme() -> None:
    """One list of exit codes (ExitCode): --help names each, the README's table has a row for each, no more."""
    helped = " ".join(_run("--help").stdout.split())
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"{int(code)} {meaning}" in helped
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n\n", 2)[1]
    rows = {int(c) for row in table.splitlines() if row.startswith("| ") and row[2].isdigit()
            for c in re.split(r",\s*", row.split("|")[1].strip())}
    assert rows == {int(code) for code in ExitCode}


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_help_imports_neither_kubernetes_nor_ansible() -> None:
    code = (
        "import sys\n"
        "from lmeval_setup.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "roots = ('kubernetes', 'ansible', 'ansible_runner', 'urllib3')\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in roots]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY="


def test_unknown_command_is_a_usage_error() -> None:
    result = _run("frobnicate")
    assert result.returncode == ExitCode.USAGE
    assert "Traceback" not in result.stderr


def test_lmeval_error_becomes_one_line_and_its_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    from lmeval_setup.cli import main as cli_main

    @click.command()
    def boom() -> None:
        raise ClusterError("cannot reach the cluster at https://127.0.0.1:1: connection refused")

    monkeypatch.setitem(cli_main.COMMANDS, "boom", ("x:y", "test"))
    monkeypatch.setattr(cli_main.LazyGroup, "get_command", lambda self, ctx, name: boom)
    with pytest.raises(SystemExit) as exit_info:
        main(["boom"])
    assert exit_info.value.code == ExitCode.CLUSTER
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot reach the cluster")


def test_unexpected_exception_is_internal_error_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    from lmeval_setup.cli import main as cli_main

    @click.command()
    def crash() -> None:
        raise RuntimeError("bug")

    monkeypatch.delenv("LMEVAL_DEBUG", raising=False)
    monkeypatch.setattr(cli_main.LazyGroup, "get_command", lambda self, ctx, name: crash)
    with pytest.raises(SystemExit) as exit_info:
        main(["crash"])
    assert exit_info.value.code == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error: RuntimeError: bug" in err


def test_every_command_has_a_target_module() -> None:
    for name, (target, help_text) in COMMANDS.items():
        module, _, attr = target.partition(":")
        assert module.startswith("lmeval_setup.cli.") and attr and help_text, name
