"""A cluster-level cause wins over the job-level symptoms it produces (issue 20 item 1), in the doctor."""

from __future__ import annotations

from doctor_support import OFFLINE_LOG_TEXT, add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate

ARC = {"taskNames": ["arc_easy"]}


def by_target(findings) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.target.label(), set()).add(f.rule_id)
    return out


def test_trustyai_removed_is_the_one_cause_of_a_pending_offline_job() -> None:
    snap = cluster_snapshot("rhoai-2.22", trustyai="Removed")
    add_job(snap, lmevaljob(taskList=ARC))
    findings = evaluate(snap).findings
    assert by_target(findings) == {"DataScienceCluster/default-dsc": {"LME101"}}
    # The symptoms are not lost: they are the root cause's evidence, naming the job.
    texts = [ev.text for ev in findings[0].evidence]
    assert any(t.startswith("LME024:") for t in texts) and any(t.startswith("LME001:") for t in texts)
    assert any((ev.path or "").startswith("LMEvalJob/demo/evaljob") for ev in findings[0].evidence)


def test_trustyai_removed_wins_over_an_offline_failure_in_the_log() -> None:
    snap = cluster_snapshot("rhoai-2.22", trustyai="Removed")
    add_job(snap, with_status(lmevaljob(taskList=ARC), state="Complete", reason="Failed", message="exit status 1"),
            pod(), OFFLINE_LOG_TEXT)
    assert by_target(evaluate(snap).findings) == {"DataScienceCluster/default-dsc": {"LME101"}}


def test_with_trustyai_managed_the_job_keeps_its_own_findings() -> None:
    snap = cluster_snapshot("rhoai-2.22")
    add_job(snap, lmevaljob(taskList=ARC))
    assert by_target(evaluate(snap).findings) == {"LMEvalJob/demo/evaljob": {"LME001", "LME024"}}


def test_unrelated_job_findings_stay_beside_lme101() -> None:
    snap = cluster_snapshot("rhoai-2.22", trustyai="Removed")
    job = lmevaljob(taskList=ARC, allowOnline=True)
    job["spec"]["modelArgs"][1]["value"] = "http://granite-predictor:8080/v1"  # LME002: not the cluster's doing
    add_job(snap, job)
    got = by_target(evaluate(snap).findings)
    assert got["DataScienceCluster/default-dsc"] == {"LME101"}
    assert "LME002" in got["LMEvalJob/demo/evaljob"] and not got["LMEvalJob/demo/evaljob"] & {"LME001", "LME024"}
