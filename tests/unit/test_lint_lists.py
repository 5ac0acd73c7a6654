"""`kind: List` everywhere (issue 14 item 4): `kubectl get lmevaljobs -o yaml | lmeval-setup lint -` lints every
job in the List, each finding at its own line; before, lint saw no LMEvalJob, printed nothing and exited 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from lmeval_setup.lint import lint_text

REPO = Path(__file__).resolve().parents[2]
GOOD = yaml.safe_load((REPO / "tests" / "data" / "lint" / "seed-good.yaml").read_text())


def _as_served(job: dict, name: str, **spec: object) -> dict:
    """The job as `kubectl get -o yaml` prints it: server metadata, managedFields and a status."""
    out = json.loads(json.dumps(job))
    out["metadata"].update(name=name, uid="5b8f8e0a-0000-4000-8000-000000000001", resourceVersion="4711",
                           generation=1, creationTimestamp="2026-11-28T10:00:00Z",
                           managedFields=[{"manager": "kubectl-client-side-apply", "operation": "Update",
                                           "apiVersion": "trustyai.opendatahub.io/v1alpha1",
                                           "time": "2026-11-28T10:00:00Z", "fieldsType": "FieldsV1",
                                           "fieldsV1": {"f:spec": {}}}])
    out["spec"].update(spec)
    out["status"] = {"state": "Complete", "reason": "Succeeded", "message": "job completed", "podName": name}
    return out


def _kubectl_list(*jobs: dict, kind: str = "List") -> str:
    return yaml.safe_dump({"apiVersion": "v1", "items": list(jobs), "kind": kind,
                          "metadata": {"resourceVersion": ""}}, sort_keys=True)


def test_every_item_of_a_list_is_linted_at_its_own_line() -> None:
    text = _kubectl_list(_as_served(GOOD, "good"), _as_served(GOOD, "bad", batchSize=1))
    result = lint_text(text, "-")
    assert [t.name for t in result.checked] == ["good", "bad"]
    errors = [f for f in result.findings if f.severity == "error"]
    assert [(f.rule_id, f.target.name) for f in errors] == [("LME015", "bad")], errors
    line = text.splitlines()[errors[0].target.line - 1]
    assert line.strip() == "batchSize: 1", line


def test_server_fields_of_a_served_object_are_not_findings() -> None:
    result = lint_text(_kubectl_list(_as_served(GOOD, "good")), "-")
    assert len(result.checked) == 1 and result.findings == []


def test_typed_lists_json_and_nested_lists() -> None:
    typed = _kubectl_list(_as_served(GOOD, "a", batchSize=2), kind="LMEvalJobList")
    assert [f.target.name for f in lint_text(typed, "-").findings if f.rule_id == "LME015"] == ["a"]
    as_json = json.dumps({"kind": "List", "apiVersion": "v1", "items": [_as_served(GOOD, "j", batchSize=3)]})
    assert [f.target.name for f in lint_text(as_json, "-").findings if f.rule_id == "LME015"] == ["j"]
    nested = {"kind": "List", "apiVersion": "v1", "items": [yaml.safe_load(typed)]}
    assert [t.name for t in lint_text(yaml.safe_dump(nested), "-").checked] == ["a"]


def test_lint_stdin_with_a_list_fails_on_its_errors() -> None:
    done = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", "lint", "-", "-o", "json"],
                          input=_kubectl_list(_as_served(GOOD, "bad", batchSize=1)), capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}, cwd=REPO)
    assert done.returncode == 1, done.stderr
    assert "LME015" in done.stdout
