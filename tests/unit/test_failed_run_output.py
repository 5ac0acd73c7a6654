"""A bootstrap or revert that failed with nothing to report prints only its error line (issue 16 leftover).

A dry run whose kubeconfig check failed printed a summary above the error, ending in "Check the kubeconfig:
would change 0" (a per-step dry-run count for a step that never ran); an unreachable cluster or a refused
preflight did the same. Every other command prints only the one error line on stderr, and so do these now;
-o json keeps the whole document with the error object. A run that failed after changing something keeps
its summary (what was changed is news), without per-step dry-run counts when it changed nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testsupport import error_lines

from lmeval_setup.bootstrap.runner import ClusterResult, RunResult, Step
from lmeval_setup.cli.bootstrap import as_text

CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
VALIDATE = "Validating arguments against arg spec 'main' - Enable TrustyAI LM-Eval"


def _result(*clusters: ClusterResult, dry_run: bool = True, playbook: str = "bootstrap") -> RunResult:
    return RunResult(playbook, dry_run, status="failed", rc=2, clusters={c.name: c for c in clusters})


def _cluster(name: str, *steps: tuple[str, str], plan: dict[str, object] | None = None) -> ClusterResult:
    return ClusterResult(name, [Step(name, task, status=status, msg="boom" if status == "failed" else "")
                                for task, status in steps], plan=plan)


PREDICTED = {"operations": [{"step": "Permissions", "action": "patch the ConfigMap", "predicted": True}]}
EARLY_FAILURES = {
    "bad kubeconfig": _cluster("cluster", ("Check the kubeconfig", "failed")),
    "unreachable": _cluster("cluster", (VALIDATE, "ok"), ("Detect | read the platform", "failed")),
    "refused preflight": _cluster("cluster", (VALIDATE, "ok"), ("Detect | read the platform", "ok"),
                                  ("Preflight | RBAC", "failed"), plan=PREDICTED),
    "cut before a write": _cluster("cluster", (VALIDATE, "ok"), ("the run", "failed")),
}


@pytest.mark.parametrize("playbook", ["bootstrap", "revert"])
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
@pytest.mark.parametrize("case", list(EARLY_FAILURES))
def test_a_run_that_failed_before_changing_anything_prints_no_summary(case: str, dry_run: bool,
                                                                      playbook: str) -> None:
    assert as_text(_result(EARLY_FAILURES[case], dry_run=dry_run, playbook=playbook)) == ""


def test_a_failed_run_that_changed_something_keeps_its_summary() -> None:
    cluster = _cluster("cluster", (VALIDATE, "ok"), ("Enable | patch the DSC", "changed"),
                       ("Enable | wait for TrustyAI", "failed"))
    text = as_text(_result(cluster))
    assert "changed  Enable | patch the DSC" in text and "would change=1 failed=1" in text
    assert "Enable: would change 1" in text  # the dry run's own count, from a step that ran


def test_a_fleet_keeps_the_summary_without_dry_run_counts_for_a_cluster_that_never_ran() -> None:
    good = _cluster("good", (VALIDATE, "ok"), ("Enable | patch the DSC", "changed"))
    bad = _cluster("bad", ("Check the kubeconfig", "failed"))
    text = as_text(_result(good, bad))
    assert "good:" in text and "Enable: would change 1" in text
    assert "Check the kubeconfig: would change" not in text, text


@pytest.mark.parametrize("verb", ["bootstrap", "revert"])
def test_a_dry_run_on_a_broken_kubeconfig_is_one_line_and_exit_3(verb: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("garbage: [\n")
    text = subprocess.run([*CLI, verb, "--dry-run", "--kubeconfig", str(kubeconfig)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert text.returncode == 3, text.stderr
    assert text.stdout == "", text.stdout
    lines = [line for line in text.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and error_lines(text.stderr) == lines and "is not YAML" in lines[0], text.stderr
    as_json = subprocess.run([*CLI, verb, "--dry-run", "-o", "json", "--kubeconfig", str(kubeconfig)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert as_json.returncode == 3
    (cluster,) = json.loads(as_json.stdout)["clusters"].values()
    assert cluster["ok"] is False and cluster["errors"][0]["reason"] == "bad_kubeconfig", cluster
    assert len(error_lines(as_json.stderr)) == 1
    assert list(tmp_path.iterdir()) == [kubeconfig]  # nothing written next to it
