"""Selecting and suppressing (issue 14 item 3): --rule, --ignore by name, -l/--selector, the suppression file
`.lmeval-setup.yaml` and inline `# lmeval-setup: ignore=...` comments. A suppressed finding is still shown,
with its reason, in every output format, and never fails the run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from doctor_support import add_job, cluster_snapshot, lmevaljob, with_status
from schemasupport import validate

from lmeval_setup.doctor.writer import write_dir

REPO = Path(__file__).resolve().parents[2]
JOB = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata:
  name: nightly-a
  namespace: ci-eval
spec:
  model: local-completions
  allowOnline: true
  batchSize: "auto"
  taskList:
    taskNames: [arc_easy]
  modelArgs:
    - name: model
      value: granite
    - name: base_url
      value: http://granite-predictor.ci-eval.svc.cluster.local:8080/v1
    - name: tokenizer
      value: ibm-granite/granite-3.1-8b-instruct
"""
SUPPRESS_LME002 = """\
suppressions:
  - rule: base-url-path
    namespace: ci-*
    job: nightly-*
    reason: the CI proxy rewrites the path
"""


def _run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO)})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "job.yaml").write_text(JOB)
    return tmp_path


def test_without_suppressions_the_job_fails(workdir: Path) -> None:
    done = _run(workdir, "lint", "job.yaml")
    assert done.returncode == 1 and "LME002" in done.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "yaml", "junit", "sarif"])
def test_a_suppression_names_its_reason_in_every_format(workdir: Path, fmt: str) -> None:
    (workdir / ".lmeval-setup.yaml").write_text(SUPPRESS_LME002)
    done = _run(workdir, "lint", "job.yaml", "-o", fmt)
    assert done.returncode == 0, done.stdout + done.stderr  # only LME029 (info) is left
    reason, source = "the CI proxy rewrites the path", ".lmeval-setup.yaml#suppressions[0]"
    if fmt in ("json", "yaml"):
        doc = json.loads(done.stdout) if fmt == "json" else yaml.safe_load(done.stdout)
        validate(doc, "findings")
        hit = next(f for f in doc["findings"] if f["id"] == "LME002")
        assert hit["suppressed"] == {"reason": reason, "source": source, "kind": "external"}
        assert doc["summary"]["error"] == 0 and doc["summary"]["suppressed"] == 1
    elif fmt == "junit":
        case = next(c for c in ET.fromstring(done.stdout).iter("testcase") if c.get("name", "").startswith("LME002"))
        assert case.find("failure") is None
        assert reason in case.find("skipped").get("message")  # type: ignore[union-attr]
    elif fmt == "sarif":
        result = next(r for r in json.loads(done.stdout)["runs"][0]["results"] if r["ruleId"] == "LME002")
        assert result["suppressions"][0]["kind"] == "external"
        assert reason in result["suppressions"][0]["justification"]
    else:
        assert "suppressed LME002 base-url-path" in done.stdout
        assert f"reason: {reason} ({source})" in done.stdout


def test_the_file_matches_namespace_and_job_globs(workdir: Path) -> None:
    (workdir / "rules.yaml").write_text(SUPPRESS_LME002.replace("nightly-*", "weekly-*"))
    done = _run(workdir, "lint", "job.yaml", "--suppressions", "rules.yaml")
    assert done.returncode == 1 and "error LME002" in done.stdout  # another job: not suppressed
    (workdir / "rules.yaml").write_text(SUPPRESS_LME002.replace("ci-*", "prod"))
    assert _run(workdir, "lint", "job.yaml", "--suppressions", "rules.yaml").returncode == 1
    (workdir / "rules.yaml").write_text(SUPPRESS_LME002)
    assert _run(workdir, "lint", "job.yaml", "--suppressions", "rules.yaml").returncode == 0


@pytest.mark.parametrize(("content", "message"), [
    ("suppressions:\n  - rule: LME002\n", "'reason' is required"),
    ("suppressions:\n  - rule: LME999\n    reason: x\n", "unknown rule 'LME999'"),
    ("suppressions:\n  - rule: LME002\n    reason: x\n    jobs: a\n", "unknown key(s) jobs"),
    ("- just a list\n", "expected a mapping with a 'suppressions' list"),
])
def test_a_bad_suppression_file_is_one_line_and_exit_2(workdir: Path, content: str, message: str) -> None:
    (workdir / ".lmeval-setup.yaml").write_text(content)
    done = _run(workdir, "lint", "job.yaml")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_inline_comments_on_the_line_above_and_in_the_document_header(workdir: Path) -> None:
    text = JOB.replace("    - name: base_url\n      value:", "    - name: base_url\n      # lmeval-setup: "
                       "ignore=base-url-path -- proxied\n      value:")
    text = "# lmeval-setup: ignore=LME029 -- tuned in the pipeline\n" + text
    (workdir / "job.yaml").write_text(text)
    done = _run(workdir, "lint", "job.yaml", "-o", "json", "--fail-on", "info")
    assert done.returncode == 0, done.stdout
    found = {f["id"]: f["suppressed"] for f in json.loads(done.stdout)["findings"]}
    assert found["LME002"] == {"reason": "proxied", "source": "job.yaml:17", "kind": "inSource"}
    assert found["LME029"] == {"reason": "tuned in the pipeline", "source": "job.yaml:1", "kind": "inSource"}


def test_inline_comments_work_on_stdin_and_name_an_unknown_rule(workdir: Path) -> None:
    text = JOB.replace("      value: http://granite", "      # lmeval-setup: ignore=LME002\n      value: http://granite")
    assert _run(workdir, "lint", "-", stdin=text).returncode == 0
    done = _run(workdir, "lint", "-", stdin=text.replace("ignore=LME002", "ignore=LME0X2"))
    assert done.returncode == 2 and "unknown rule 'LME0X2'" in done.stderr


def test_a_trailing_comment_covers_its_own_line(workdir: Path) -> None:
    text = JOB.replace("8080/v1\n", "8080/v1  # lmeval-setup: ignore=LME002 -- proxied\n")
    assert _run(workdir, "lint", "-", stdin=text).returncode == 0


def test_rule_keeps_only_the_named_rules(workdir: Path) -> None:
    done = _run(workdir, "lint", "job.yaml", "--rule", "client-tuning-missing", "-o", "json")
    assert [f["id"] for f in json.loads(done.stdout)["findings"]] == ["LME029"] and done.returncode == 0
    assert _run(workdir, "lint", "job.yaml", "--rule", "nope").returncode == 2


def _gather(tmp_path: Path) -> Path:
    snap = cluster_snapshot("rhoai-3.5")
    for name, team in (("a", "x"), ("b", "y")):
        job = with_status(lmevaljob(name), state="Complete", reason="Failed",
                          message="job requires kueue.x-k8s.io/queue-name label")
        job["metadata"]["labels"] = {"team": team}
        add_job(snap, job)
    return write_dir(snap, tmp_path / "gather")


def test_doctor_selector_and_suppression_file(tmp_path: Path) -> None:
    gather = _gather(tmp_path)
    done = _run(tmp_path, "doctor", "--from-dir", str(gather), "-A", "-l", "team=x", "-o", "json")
    jobs = {f["target"]["name"] for f in json.loads(done.stdout)["findings"] if f["target"]["kind"] == "LMEvalJob"}
    assert jobs == {"a"} and done.returncode == 1
    (tmp_path / ".lmeval-setup.yaml").write_text(
        "suppressions:\n  - rule: [LME034, offline-access]\n    job: a\n    reason: queued by hand\n")
    done = _run(tmp_path, "doctor", "--from-dir", str(gather), "-A", "-l", "team in (x)", "-o", "json")
    doc = json.loads(done.stdout)
    validate(doc, "findings")
    assert done.returncode == 0, doc
    assert {f["suppressed"]["reason"] for f in doc["findings"] if f["target"]["kind"] == "LMEvalJob"} == {
        "queued by hand"}
    bad = _run(tmp_path, "doctor", "--from-dir", str(gather), "-l", "team in ()")
    assert bad.returncode == 2 and "selector" in bad.stderr
