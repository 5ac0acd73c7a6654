"""Status, pod, cluster detectors and the merge, on plain dicts (no apiserver)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from doctor_support import NOW, add_job, cluster_snapshot, iso, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate, merge
from lmeval_setup.doctor.offline import read_dir
from lmeval_setup.doctor.writer import write_dir
from lmeval_setup.platform.operator_state import LMES_HASH_ANNOTATION
from lmeval_setup.rules import pods as P
from lmeval_setup.rules import status as S
from lmeval_setup.rules.finding import Evidence, Finding, Target

OFFLINE_LOG = "Traceback (most recent call last):\nConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub " \
              "(OfflineModeIsEnabled)\n"


def rules(result) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[str]] = {}
    for f in result.findings:
        out.setdefault(f.target.label(), set()).add(f.rule_id)
    return out


# -- status ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("message", "rule"), [
    ("Input validation failed: invalid batch size: batch size must be 'auto', 'auto:N', or a positive integer",
     "LME015"),
    ("OOMKilled", "LME020"), ("signal: killed", "LME020"), ("ImagePullBackOff", "LME019"),
    ("ErrImagePull", "LME019"), ("CreateContainerConfigError", "LME022"),
    ("failed to set up custom tasks: fetching external git tasks is not allowed when allowOnline is false", "LME001"),
    ("exit status 1", None), ("job completed", None),
])
def test_status_message(message: str, rule: str | None) -> None:
    got = S.classify_status_message(message)
    assert (got[0] if got else None) == rule


def test_stuck_scheduled_job_and_missing_pvc() -> None:
    job = with_status(lmevaljob(outputs={"pvcName": "results"}), state="Scheduled",
                      lastScheduleTime=iso(NOW - timedelta(minutes=30)))
    found = S.status_findings(job, pod=None, pvcs=set(), now=NOW)
    assert [f.rule_id for f in found] == ["LME025"]
    found = S.status_findings(job, pod=None, pvcs={"results"}, now=NOW)
    assert [f.rule_id for f in found] == ["LME024"]
    fresh = with_status(lmevaljob(), state="Scheduled", lastScheduleTime=iso(NOW - timedelta(minutes=2)))
    assert S.status_findings(fresh, pod=None, pvcs=None, now=NOW) == []


# -- pods --------------------------------------------------------------------------------------------------
def test_pod_states_and_events() -> None:
    target = Target(kind="LMEvalJob", name="evaljob", namespace="demo")
    p = pod(driver={"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image x"}}},
            main={"state": {"waiting": {"reason": "PodInitializing"}}}, phase="Pending")
    assert [f.rule_id for f in P.pod_findings(p, [], target)] == ["LME019"]
    p = pod(main={"state": {"waiting": {"reason": "CreateContainerConfigError",
                                        "message": 'secret "model-token" not found'}}}, phase="Pending")
    assert [f.rule_id for f in P.pod_findings(p, [], target)] == ["LME022"]
    p = pod(main={"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}})
    assert [f.rule_id for f in P.pod_findings(p, [], target)] == ["LME020"]
    p = pod(phase="Pending", main={"state": {"waiting": {"reason": "PodInitializing"}}},
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}])
    assert [f.rule_id for f in P.pod_findings(p, [], target)] == ["LME021"]
    event = {"type": "Warning", "reason": "FailedScheduling",
             "message": '0/1 nodes: persistentvolumeclaim "results" not found'}
    assert [f.rule_id for f in P.pod_findings(pod(), [event], target)] == ["LME025"]


def test_logs_are_needed_only_for_failed_or_stuck_pods() -> None:
    assert P.needed_logs(pod(), job_failed=True, job_stuck=False) == ["main"]
    ok = pod(phase="Succeeded", main={"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    assert P.needed_logs(ok, job_failed=False, job_stuck=False) == []
    crashed_driver = pod(driver={"state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
                         main={"state": {"waiting": {"reason": "PodInitializing"}}})
    assert P.needed_logs(crashed_driver, job_failed=False, job_stuck=True) == ["driver"]


# -- cluster -----------------------------------------------------------------------------------------------
def cluster_rules(**kwargs) -> set[str]:  # type: ignore[no-untyped-def]
    profile = kwargs.pop("profile", "rhoai-2.22")
    return {f.rule_id for f in evaluate(cluster_snapshot(profile, **kwargs)).findings}


def test_healthy_clusters_have_no_findings() -> None:
    for profile in ("rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.0", "rhoai-3.5", "odh-2.35", "odh-3.5"):
        assert cluster_rules(profile=profile) == set(), profile


def test_cluster_rules() -> None:
    assert cluster_rules(trustyai="Removed") == {"LME101"}
    assert cluster_rules(operator_replicas=0) == {"LME107"}
    assert cluster_rules(kserve=False) == {"LME108"}
    msg = "InferenceServices CRD does not exist, please enable serving component first"
    assert cluster_rules(conditions=[{"type": "TrustyAIReady", "status": "False", "message": msg}]) == {"LME108"}
    assert cluster_rules(profile="rhoai-3.0", kueue="Managed") == {"LME109"}
    assert cluster_rules(profile="rhoai-2.25", kueue="Managed") == set()


def test_configmap_edits_by_release() -> None:
    edit = {"lmes-allow-online": "true"}
    # 2.22: unannotated edit is reverted (and the pod started before it: restart pending as well)
    later = NOW - timedelta(hours=1)
    assert cluster_rules(cm_data=edit, cm_changed=later) == {"LME104", "LME106"}
    assert cluster_rules(cm_data=edit, cm_changed=later, pod_started=NOW - timedelta(minutes=5),
                         cm_annotations={"opendatahub.io/managed": "false"}) == set()
    # 2.16: at risk even when annotated
    assert cluster_rules(profile="rhoai-2.16", cm_data=edit, cm_annotations={"opendatahub.io/managed": "false"}) \
        == {"LME104"}
    # 2.25+: the DSC config wins; no restart needed for permission keys
    assert cluster_rules(profile="rhoai-2.25", cm_data=edit, cm_changed=later) == {"LME105"}
    assert cluster_rules(profile="rhoai-2.25", cm_data=edit, dsc_permit={"permitOnline": "allow"}) == set()
    # 2.25+: a start-up key changed after the pod started does need a restart
    assert cluster_rules(profile="rhoai-2.25", cm_data={"lmes-default-batch-size": "4"}, cm_changed=later,
                         cm_annotations={"opendatahub.io/managed": "false"}) == {"LME106"}
    # the pod-template hash stamped by bootstrap disagrees with the ConfigMap changed after the pod started
    # (a stamp that disagrees on a pod started after the last change is loaded: test_operator_state)
    assert cluster_rules(pod_annotations={LMES_HASH_ANNOTATION: "0000"}, cm_data={"lmes-default-batch-size": "4"},
                         cm_changed=later, pod_started=later - timedelta(minutes=1),
                         cm_annotations={"opendatahub.io/managed": "false"}) == {"LME106"}


def test_no_openshift_ai_is_reported() -> None:
    result = evaluate(__import__("lmeval_setup.doctor.snapshot", fromlist=["Snapshot"]).Snapshot(collected_at=NOW))
    assert result.openshift_ai_missing and [f.rule_id for f in result.findings] == ["LME110"]


# -- job layer through evaluate: one root cause, one finding ------------------------------------------------
def test_offline_failure_is_one_finding_with_all_evidence() -> None:
    snap = cluster_snapshot("rhoai-2.25")
    job = with_status(lmevaljob(taskList={"taskNames": ["arc_easy"]}, allowOnline=True,
                                modelArgs=[{"name": "model", "value": "granite"}]),
                      state="Complete", reason="Failed", message="exit status 1")
    env = [{"name": "HF_HUB_OFFLINE", "value": "1"}, {"name": "HF_DATASETS_TRUST_REMOTE_CODE", "value": "0"}]
    add_job(snap, job, pod(env=env), OFFLINE_LOG)
    result = evaluate(snap)
    job_rules = [f for f in result.findings if f.target.kind == "LMEvalJob" and f.rule_id in ("LME001", "LME102")]
    assert [f.rule_id for f in job_rules] == ["LME102"]
    sources = {e.source for e in job_rules[0].evidence}
    assert {"log", "pod", "spec"} <= sources


def test_offline_failure_without_allow_online_stays_lme001() -> None:
    snap = cluster_snapshot("rhoai-2.22")
    job = with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1")
    add_job(snap, job, pod(env=[{"name": "HF_HUB_OFFLINE", "value": "1"}]), OFFLINE_LOG)
    result = evaluate(snap)
    lme001 = [f for f in result.findings if f.rule_id == "LME001"]
    assert len(lme001) == 1 and lme001[0].evidence[0].source == "log" and lme001[0].evidence[0].line == 2
    assert "LME102" not in {f.rule_id for f in result.findings}


def test_merge_keeps_first_message_and_worst_severity() -> None:
    t = Target(kind="LMEvalJob", name="j", namespace="n")
    a = Finding("LME001", t, message="from spec", evidence=(Evidence("spec", "x", path="spec.allowOnline"),),
                severity_override="warning")
    b = Finding("LME001", t, message="from log", evidence=(Evidence("log", "y", path="pod/j/main", line=3),))
    (merged,) = merge([a, b])
    assert merged.message == "from spec" and merged.severity == "error" and len(merged.evidence) == 2


def test_failed_job_without_log_is_noted() -> None:
    snap = cluster_snapshot()
    job = lmevaljob(offline={"storage": {"pvcName": "hf"}})
    job["spec"]["modelArgs"][2]["value"] = "/opt/app-root/src/hf_home/granite"
    add_job(snap, with_status(job, state="Complete", reason="Failed", message="exit status 1"), pod())
    result = evaluate(snap)
    assert any("main log was not collected" in e for e in result.errors)


# -- offline round trip -----------------------------------------------------------------------------------
def test_collect_layout_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    snap = cluster_snapshot("rhoai-2.22", cm_data={"lmes-allow-online": "true"})
    job = with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1")
    add_job(snap, job, pod(), OFFLINE_LOG)
    snap.add_all("", "events", [{"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "BackOff",
                                 "message": "x", "metadata": {"name": "e1", "namespace": "demo"},
                                 "involvedObject": {"kind": "Pod", "name": "evaljob"}}], "demo")
    live = evaluate(snap)
    write_dir(snap, tmp_path / "out")
    assert (tmp_path / "out/namespaces/demo/pods/evaljob/main/main/logs/current.log").is_file()
    assert (tmp_path / "out/namespaces/demo/core/events.yaml").is_file()
    offline = evaluate(read_dir(tmp_path / "out"))
    assert rules(offline) == rules(live)
    assert [f.evidence for f in offline.findings] == [f.evidence for f in live.findings]


def test_reads_an_oc_adm_inspect_tree(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A must-gather: one root per image, Lists per namespace, timestamps on log lines, no CRDs collected."""
    import yaml

    root = tmp_path / "must-gather.local.123" / "registry-redhat-io-rhoai-odh-must-gather-sha256-abc"
    ns = root / "namespaces" / "demo"
    (ns / "trustyai.opendatahub.io" / "lmevaljobs").mkdir(parents=True)
    job = with_status(lmevaljob(), state="Complete", reason="Failed", message="exit status 1")
    (ns / "trustyai.opendatahub.io" / "lmevaljobs" / "evaljob.yaml").write_text(yaml.safe_dump(job))
    (ns / "core").mkdir()
    (ns / "core" / "pods.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "PodList",
                                                           "items": [pod()]}))
    (ns / "core" / "secrets.yaml").write_text("apiVersion: v1\nkind: SecretList\nitems: [{metadata: {name: s}}]\n")
    logs = ns / "pods" / "evaljob" / "main" / "main" / "logs"
    logs.mkdir(parents=True)
    logs.joinpath("current.log").write_text("".join(f"2026-11-28T11:00:0{i}.000000000Z {line}\n"
                                                    for i, line in enumerate(OFFLINE_LOG.splitlines())))
    cluster = root / "cluster-scoped-resources" / "datasciencecluster.opendatahub.io" / "datascienceclusters"
    cluster.mkdir(parents=True)
    src = cluster_snapshot("rhoai-2.22")
    dsc = src.list("datasciencecluster.opendatahub.io", "v1", "datascienceclusters")[0]
    cluster.joinpath("default-dsc.yaml").write_text(yaml.safe_dump(dsc))
    (root / "timestamp").write_text("2026-11-28 12:00:00.000 +0000 UTC m=+0.1\n")
    snap = read_dir(tmp_path / "must-gather.local.123")
    assert ("", "secrets", "demo", "s") not in snap.objects
    result = evaluate(snap)
    job_rules = {f.rule_id for f in result.findings if f.target.kind == "LMEvalJob"}
    assert job_rules == {"LME001"}
    # no CRDs in this must-gather: KServe is unknown, not missing
    assert "LME108" not in {f.rule_id for f in result.findings}
