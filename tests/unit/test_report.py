"""Renderers: json schema, text grouping/colour, junit, sarif, exit policy, --ignore, redaction."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from lmeval_setup.errors import UsageError
from lmeval_setup.redact import redact_text
from lmeval_setup.report import exit_code_for, filter_ignored, render, resolve_rule_ids
from lmeval_setup.rules.catalog import RULES
from lmeval_setup.rules.finding import Evidence, Finding, Target

FILE_FINDING = Finding(
    "LME002", Target(kind="LMEvalJob", name="j", namespace="ns", file="jobs/j.yaml", line=17, column=14),
    message="base_url must end in /v1/completions",
    evidence=(Evidence("spec", "http://granite:8080/v1", path="spec.modelArgs[1].value", line=17, column=14),),
)
OBJECT_FINDING = Finding(
    "LME101", Target(kind="DataScienceCluster", name="default-dsc"), message="trustyai is Removed",
    evidence=(Evidence("cluster", "Removed", path="spec.components.trustyai.managementState"),),
)
INFO_FINDING = Finding(
    "LME029", Target(kind="LMEvalJob", name="j", namespace="ns", file="jobs/j.yaml", line=12, column=3),
    message="timeout is not set",
)
SECRET_FINDING = Finding(
    "LME007", Target(kind="LMEvalJob", name="j", namespace="ns"),
    message="401 with Authorization: Bearer abcdefghijklmnop",
    evidence=(Evidence("log", "api_key=sk-abcdefghijklmnopqrstuvwxyz", path="pod/j/main", line=12),),
)
ALL = [INFO_FINDING, OBJECT_FINDING, FILE_FINDING, SECRET_FINDING]


def test_json_schema() -> None:
    doc = json.loads(render(ALL, "json", tool="doctor"))
    assert doc["schema"] == "lmeval-setup/findings" and doc["version"] == 1
    assert doc["summary"] == {"error": 3, "warning": 0, "info": 1}
    by_id = {f["id"]: f for f in doc["findings"]}
    f = by_id["LME002"]
    assert set(f) >= {"id", "slug", "severity", "title", "message", "evidence", "fix", "example", "docs"}
    assert f["file"] == {"path": "jobs/j.yaml", "line": 17, "column": 14}
    assert f["target"] == {"kind": "LMEvalJob", "namespace": "ns", "name": "j"}
    assert f["evidence"] == [{"source": "spec", "path": "spec.modelArgs[1].value", "line": 17,
                              "text": "http://granite:8080/v1"}]
    assert "file" not in by_id["LME101"] and by_id["LME101"]["target"]["namespace"] is None


def test_text_groups_by_object_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text = render(ALL, "text", tool="lint")
    assert "\x1b[" not in text
    assert "jobs/j.yaml (LMEvalJob ns/j)" in text and "DataScienceCluster default-dsc" in text
    assert "jobs/j.yaml:17:14 error LME002 base-url-path: base_url must end" in text
    assert text.index("jobs/j.yaml:12:3") < text.index("jobs/j.yaml:17:14")  # ordered by line
    assert "fix: Set the base_url" in text and "lint: 3 error(s)" in text


def test_text_colour_only_when_asked_or_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in render(ALL, "text", tool="lint", color=True)
    assert "\x1b[" not in render(ALL, "text", tool="lint")  # pytest's stdout is not a TTY
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render(ALL, "text", tool="lint")


def test_junit_case_per_rule_and_object() -> None:
    xml = render(ALL, "junit", tool="doctor", checked=[Target(kind="LMEvalJob", name="clean", namespace="ns")])
    root = ET.fromstring(xml)
    cases = root.findall(".//testcase")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("DataScienceCluster/default-dsc", "LME101 trustyai-not-managed") in names
    assert ("LMEvalJob/ns/clean", "no findings") in names
    assert root.get("failures") == "3"  # info is below the default threshold
    info_case = next(c for c in cases if c.get("name", "").startswith("LME029"))
    assert info_case.find("failure") is None
    strict = ET.fromstring(render(ALL, "junit", tool="doctor", fail_on="info"))
    assert strict.get("failures") == "4"


def test_sarif_locations_and_rules() -> None:
    sarif = json.loads(render(ALL, "sarif", tool="lint"))
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)
    results = {r["ruleId"]: r for r in run["results"]}
    physical = results["LME002"]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "jobs/j.yaml"
    assert physical["region"] == {"startLine": 17, "startColumn": 14}
    logical = results["LME101"]["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "DataScienceCluster/default-dsc"
    assert results["LME029"]["level"] == "note"
    rule = run["tool"]["driver"]["rules"][results["LME002"]["ruleIndex"]]
    assert rule["id"] == "LME002"


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif"])
def test_secrets_never_rendered(fmt: str) -> None:
    out = render([SECRET_FINDING], fmt, tool="doctor", errors=["token=supersecretvalue"])
    for secret in ("abcdefghijklmnop", "sk-abcdefghijklmnopqrstuvwxyz", "supersecretvalue"):
        assert secret not in out, fmt


def test_exit_code_policy() -> None:
    assert exit_code_for([], "error") == 0
    assert exit_code_for([INFO_FINDING], "error") == 0
    assert exit_code_for([INFO_FINDING], "warning") == 0
    assert exit_code_for([INFO_FINDING], "info") == 1
    assert exit_code_for([FILE_FINDING], "error") == 1
    with pytest.raises(UsageError):
        exit_code_for([], "never")


def test_ignore_by_id_or_slug() -> None:
    assert filter_ignored(ALL, ["lme002", "trustyai-not-managed"]) == [INFO_FINDING, SECRET_FINDING]
    assert resolve_rule_ids(["LME001,LME002"]) == {"LME001", "LME002"}
    with pytest.raises(UsageError):
        resolve_rule_ids(["LME999"])


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        render(ALL, "xml", tool="lint")  # yaml is a format now (issue 20)


def test_redact_text() -> None:
    assert redact_text("Authorization: Bearer abcdefghijkl") == "Authorization: Bearer <redacted>"
    assert redact_text("plain granite model") == "plain granite model"
