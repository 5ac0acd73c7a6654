"""`kubectl lmeval ...` (issue 13 item 4): the real kubectl finds the installed `kubectl-lmeval` on PATH, passes
the remaining arguments and its environment, and the plugin answers exactly as `lmeval-setup` does; kubectl's
plugin completion (`kubectl_complete-lmeval`) completes commands and rule IDs and falls back to file names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's scripts: lmeval-setup, kubectl-lmeval, kubectl_complete-lmeval

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def kubectl(controlplane: object) -> Path:
    from lmeval_setup.sandbox.controlplane import kubectl_path

    if not (BIN / "kubectl-lmeval").exists():
        pytest.fail("kubectl-lmeval is not installed in the venv: pip install -e . (pyproject's [project.scripts])")
    return kubectl_path()


def run(argv: list[str], kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    # Only the venv's scripts and the system on PATH: the plugin must be found there, not by absolute path.
    env = {**os.environ, "PATH": f"{BIN}:/usr/bin:/bin", "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)


def test_kubectl_lists_the_plugin(kubectl: Path, controlplane: object) -> None:
    proc = run([str(kubectl), "plugin", "list"], controlplane.kubeconfig)  # type: ignore[attr-defined]
    assert str(BIN / "kubectl-lmeval") in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("args", [
    ["doctor", "-n", "default", "-o", "json"],
    ["lint", "examples/jobs", "-o", "json"],
    ["rules", "-o", "json"],
])
def test_plugin_answers_as_the_cli_does(kubectl: Path, controlplane: object, args: list[str]) -> None:
    kubeconfig = controlplane.kubeconfig  # type: ignore[attr-defined]
    direct = run([str(BIN / "lmeval-setup"), *args], kubeconfig)
    plugin = run([str(kubectl), "lmeval", *args], kubeconfig)
    assert direct.stdout, direct.stderr
    assert (plugin.returncode, plugin.stdout) == (direct.returncode, direct.stdout), plugin.stderr


def test_plugin_usage_error_names_the_plugin(kubectl: Path, controlplane: object) -> None:
    proc = run([str(kubectl), "lmeval", "doctor", "--no-such-flag"], controlplane.kubeconfig)  # type: ignore[attr-defined]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "kubectl lmeval doctor" in proc.stderr


def completions(kubectl: Path, kubeconfig: Path, *words: str) -> tuple[list[str], str]:
    proc = run([str(kubectl), "__complete", "lmeval", *words], kubeconfig)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    return [line.split("\t")[0] for line in lines[:-1]], lines[-1]


def test_kubectl_completes_the_plugin_commands_and_rule_ids(kubectl: Path, controlplane: object) -> None:
    from lmeval_setup.rules.catalog import RULES

    kubeconfig = controlplane.kubeconfig  # type: ignore[attr-defined]
    assert completions(kubectl, kubeconfig, "do") == (["doctor"], ":4")
    values, directive = completions(kubectl, kubeconfig, "lint", "--ignore", "LME00")
    assert values == [r for r in RULES if r.startswith("LME00")] and directive == ":4"
    # lint's PATH: nothing we know, so the shell completes file names (cobra's default directive)
    assert completions(kubectl, kubeconfig, "lint", "") == ([], ":0")
