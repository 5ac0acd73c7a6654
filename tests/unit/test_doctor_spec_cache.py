"""evaluate() runs the spec rules once per distinct spec (issue 15 item 2: thousands of jobs from a few
templates), and the shared answer is exactly what each job gets checked alone: same findings, each aimed
at its own job; a job whose metadata or status is not schema-clean is checked whole."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lmeval_setup.doctor import evaluate as E
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R
from lmeval_setup.rules import status as S

TEMPLATES: list[dict[str, Any]] = [
    # a placeholder and a tokenizer the offline pod cannot read: several spec findings
    {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]},
     "modelArgs": [{"name": "model", "value": "$MODEL"}, {"name": "base_url", "value": "http://m:8080/v1"}]},
    # a clean-ish spec of another shape
    {"model": "hf", "taskList": {"taskNames": ["arc_easy"]},
     "modelArgs": [{"name": "pretrained", "value": "/opt/app-root/src/hf_home/granite"}],
     "offline": {"storage": {"pvcName": "hf-cache"}}},
]


def _job(ns: str, name: str, spec: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": {"team": ns}},
            "spec": copy.deepcopy(spec),
            "status": {"state": "Complete", "reason": "Failed", "message": "exit status 1", "podName": name,
                       **status}}


def _snapshot(jobs: list[dict[str, Any]]) -> Snapshot:
    snapshot = Snapshot(collected_at=S.utcnow(), scope={"all_namespaces": True})
    for job in jobs:
        snapshot.add(R.LMEVAL_GROUP, "lmevaljobs", job)
    return snapshot


def _jobs() -> list[dict[str, Any]]:
    jobs = [_job(f"ns-{n}", f"eval-{i}", TEMPLATES[i % 2]) for n in range(3) for i in range(10)]
    # schema issues outside the spec: an unknown metadata field, a status of the wrong type
    jobs.append({**_job("ns-x", "odd-meta", TEMPLATES[0]), "metadata": {"name": "odd-meta", "namespace": "ns-x",
                                                                       "colour": "blue"}})
    jobs.append(_job("ns-x", "odd-status", TEMPLATES[0], podName=7))
    return jobs


def test_spec_rules_run_once_per_distinct_spec_and_give_each_job_its_own_findings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs()
    calls: list[str] = []
    real = E._spec_findings

    def counting(job: dict[str, Any], facts: Any, target: Any) -> list:  # type: ignore[type-arg]
        calls.append(target.label())
        return real(job, facts, target)

    monkeypatch.setattr(E, "_spec_findings", counting)
    cached = E.evaluate(_snapshot(jobs))
    # two templates, plus the two jobs whose metadata / status is checked whole
    assert len(calls) == 4, calls

    monkeypatch.setattr(E.SpecFindingsCache, "findings",
                        lambda self, job, facts, target: real(job, facts, target))
    alone = E.evaluate(_snapshot(jobs))
    assert cached.findings == alone.findings
    assert cached.errors == alone.errors
    # the first template's placeholder, reported on every job made from it (not only the first one checked)
    aimed_at = {(f.target.namespace, f.target.name) for f in cached.findings if f.rule_id == "LME015"}
    assert aimed_at == {(f"ns-{n}", f"eval-{i}") for n in range(3) for i in range(0, 10, 2)} | {
        ("ns-x", "odd-meta"), ("ns-x", "odd-status")}


def test_a_job_with_a_metadata_or_status_schema_issue_keeps_that_finding() -> None:
    result = E.evaluate(_snapshot(_jobs()))
    paths = {(f.target.name, ev.path) for f in result.findings for ev in f.evidence}
    assert ("odd-meta", "metadata.colour") in paths
    assert ("odd-status", "status.podName") in paths
    # the same template without the issue has no such evidence
    assert not any(p[0] == "eval-0" and (p[1] or "").startswith(("metadata", "status")) for p in paths)


def test_specs_that_only_print_alike_are_not_shared() -> None:
    """An offline snapshot's YAML can hold a date where a string belongs: its job must not share the spec
    findings of a job whose string reads like that date's repr (the cache key once printed both alike)."""
    import datetime as dt

    dated = _job("ns-a", "dated", {**TEMPLATES[1], "model": dt.date(2026, 1, 1)})
    text = _job("ns-a", "text", {**TEMPLATES[1], "model": repr(dt.date(2026, 1, 1))})
    result = E.evaluate(_snapshot([dated, text]))
    type_errors = {f.target.name for f in result.findings for ev in f.evidence
                   if f.rule_id == "LME015" and ev.path == "spec.model" and "type" in f.message + ev.text}
    assert "dated" in type_errors and "text" not in type_errors


def test_metadata_and_status_issues_are_what_validate_reports_for_them() -> None:
    from lmeval_setup.rules.schema import validate, validate_metadata_and_status

    docs = [*_jobs(),
            {"metadata": "not-a-map", "status": ["x"]},
            {"metadata": {"name": 3, "labels": {"a": 1}, "annotations": "x"}, "status": None},
            {"status": {"state": "Exploded", "progressBars": [{"count": "1"}, "bar"], "extra": 1}},
            {"spec": {"model": "hf"}}]
    for doc in docs:
        outside_spec = [i for i in validate(doc) if i.path.startswith(("metadata", "status"))]
        assert list(validate_metadata_and_status(doc)) == outside_spec, doc
    assert any(list(validate_metadata_and_status(doc)) for doc in docs[-3:-1])
