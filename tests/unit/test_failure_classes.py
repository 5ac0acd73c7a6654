"""Failure classes between the controller and lm-eval (issue 14 item 2), each from a real object state.

The states are what Kubernetes and the real TrustyAI controller write (messages copied from the apiserver's
admission plugins, the kubelet's eviction manager, and the controller/driver sources of
../shared/upstream/trustyai-service-operator), not reproduced in the sandbox: it runs no SCC admission, no
eviction manager and no Kueue. Each case asserts rule, evidence and that the rule has a fix, and that
`doctor --from-dir` on what `--collect` writes finds the same.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from doctor_support import NOW, add_job, cluster_snapshot, iso, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.offline import read_dir
from lmeval_setup.doctor.writer import write_dir
from lmeval_setup.rules.catalog import rule

JSON = dict[str, Any]


def _failed(message: str) -> JSON:
    return with_status(lmevaljob(), state="Complete", reason="Failed", message=message)


def _running_pod(**kw: Any) -> JSON:
    return pod(main={"state": {"running": {"startedAt": iso(NOW - timedelta(hours=1))}}}, phase="Running", **kw)


def _stalled_job() -> JSON:
    job = with_status(lmevaljob(), state="Running", reason="NoReason", message="Running generate_until requests",
                      progressBars=[{"message": "Running generate_until requests", "percent": "37%",
                                     "count": "489/1319"}])
    job["metadata"]["managedFields"] = [
        {"manager": "manager", "operation": "Update", "time": iso(NOW - timedelta(minutes=50)), "apiVersion": "x"},
        {"manager": "manager", "operation": "Update", "subresource": "status",
         "time": iso(NOW - timedelta(minutes=42)), "apiVersion": "x"}]
    return job


def _kueue_job() -> JSON:
    job = lmevaljob(suspend=True)
    job["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "team-a"}
    return with_status(job, state="Suspended")


def _evicted_pod() -> JSON:
    out = pod(main={"state": {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown"}}})
    out["status"].update(reason="Evicted", message=(
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9532Mi. Container "
        "main was using 24Gi, request is 0, has larger consumption of ephemeral-storage. "))
    return out


def _driver_crashloop_pod() -> JSON:
    return pod(phase="Pending", main={"state": {"waiting": {"reason": "PodInitializing"}}}, driver={
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}})


def _complete_but_never_shut_down() -> JSON:
    """rhoai-2.25+ (handleComplete): the driver reported Complete, the controller's `driver --shutdown` exec keeps
    failing, so completeTime is never written and the controller retries every 10 s."""
    job = with_status(lmevaljob(), state="Complete", reason="Succeeded", message="job completed")
    job["metadata"]["managedFields"] = [{"manager": "manager", "operation": "Update", "subresource": "status",
                                         "time": iso(NOW - timedelta(minutes=25)), "apiVersion": "x"}]
    return job


def _completed_pod_still_running() -> JSON:
    return with_status(lmevaljob(), state="Complete", reason="Succeeded", message="job completed",
                       completeTime=iso(NOW - timedelta(minutes=30)))


CASES: dict[str, tuple[JSON, JSON | None, str, str]] = {
    # name: (job, pod, rule, text the evidence must contain)
    "quota": (_failed('pods "evaljob" is forbidden: exceeded quota: eval-quota, requested: pods=1, used: pods=2, '
                      'limited: pods=2'), None, "LME038", "exceeded quota"),
    "limitrange": (_failed('pods "evaljob" is forbidden: [maximum memory usage per Container is 4Gi, but limit is '
                           '8Gi, maximum cpu usage per Container is 2, but limit is 4]'), None, "LME038",
                   "maximum memory usage per Container"),
    # OpenShift's SCC admission (openshift/apiserver-library-go sccadmission/admission.go): NewForbidden with
    # "unable to validate against any security context constraint: %v" of the field errors' aggregate, one per
    # provider tried ('provider "anyuid": Forbidden: not usable ...', 'provider restricted-v2: .spec...').
    "scc": (_failed('pods "evaljob" is forbidden: unable to validate against any security context constraint: '
                    '[provider "anyuid": Forbidden: not usable by user or serviceaccount, provider restricted-v2: '
                    '.spec.securityContext.fsGroup: Invalid value: []int64{0}: 0 is not an allowed group]'), None,
            "LME038", "security context constraint"),
    # Pod Security admission (a namespace labelled pod-security.kubernetes.io/enforce: restricted), as the
    # apiserver words it for a job whose spec.pod.container.securityContext allows privilege escalation.
    "pod-security": (_failed('pods "evaljob" is forbidden: violates PodSecurity "restricted:latest": '
                             'allowPrivilegeEscalation != false (container "main" must set securityContext.'
                             'allowPrivilegeEscalation=false)'), None, "LME038", 'violates PodSecurity'),
    "kueue-label": (_failed("job requires kueue.x-k8s.io/queue-name label"), None, "LME034", "queue-name label"),
    "kueue-suspended": (_kueue_job(), None, "LME034", "kueue.x-k8s.io/queue-name: team-a"),
    "evicted": (_failed("ContainerStatusUnknown"), _evicted_pod(), "LME036", "ephemeral-storage"),
    "driver-init": (with_status(lmevaljob(), state="Scheduled", lastScheduleTime=iso(NOW - timedelta(minutes=3))),
                    _driver_crashloop_pod(), "LME037", "CrashLoopBackOff"),
    "stalled-running": (_stalled_job(), _running_pod(), "LME024", "489/1319"),
    "pod-not-shut-down": (_completed_pod_still_running(), _running_pod(), "LME039", "main: running"),
    "shutdown-never-succeeded": (_complete_but_never_shut_down(), _running_pod(), "LME039", "completeTime: not set"),
    "git-clone": (_failed("failed to set up custom tasks: failed to clone git repository: exit status 128, output: "
                          "fatal: unable to access 'https://github.com/acme/tasks/': Could not resolve host: "
                          "github.com"), None, "LME031", "failed to clone git repository"),
    "s3": (_failed("failed to download assets from S3: exit status 1"), None, "LME032", "S3"),
    "oci": (_failed("failed to upload results to OCI: exit status 1"), None, "LME033", "OCI"),
    "operator-config": (_failed("Failed to read configuration: invalid PullPolicy"), None, "LME035",
                        "invalid PullPolicy"),
    "pod-gone": (_failed('pods "evaljob" not found'), None, "LME036", 'pods "evaljob" not found'),
}


def _snapshot(job: JSON, job_pod: JSON | None) -> Any:
    snap = cluster_snapshot("rhoai-3.5")
    add_job(snap, copy.deepcopy(job), copy.deepcopy(job_pod) if job_pod else None)
    return snap


@pytest.mark.parametrize("case", sorted(CASES))
def test_failure_class_rule_evidence_and_fix(case: str, tmp_path: Path) -> None:
    job, job_pod, rule_id, text = CASES[case]
    snap = _snapshot(job, job_pod)
    findings = [f for f in evaluate(snap).findings if f.target.kind == "LMEvalJob"]
    hit = [f for f in findings if f.rule_id == rule_id]
    assert hit, [(f.rule_id, f.message) for f in findings]
    assert any(text in ev.text for ev in hit[0].evidence), hit[0].evidence
    assert rule(rule_id).fix
    # --from-dir on what --collect writes: the same findings
    back = read_dir(write_dir(snap, tmp_path / "collected"))
    assert sorted((f.rule_id, f.message) for f in evaluate(back).findings) == sorted(
        (f.rule_id, f.message) for f in evaluate(snap).findings)


def test_a_running_job_with_recent_progress_is_not_stalled() -> None:
    job = _stalled_job()
    job["metadata"]["managedFields"][-1]["time"] = iso(NOW - timedelta(minutes=2))
    assert "LME024" not in {f.rule_id for f in evaluate(_snapshot(job, _running_pod())).findings}


def test_a_completed_pod_within_its_shutdown_grace_is_fine() -> None:
    job = with_status(lmevaljob(), state="Complete", reason="Succeeded", message="job completed",
                      completeTime=iso(NOW - timedelta(minutes=1)))
    assert "LME039" not in {f.rule_id for f in evaluate(_snapshot(job, _running_pod())).findings}


def test_a_kueue_job_admitted_recently_is_not_reported() -> None:
    job = _kueue_job()
    job["metadata"]["creationTimestamp"] = iso(NOW - timedelta(minutes=2))
    assert "LME034" not in {f.rule_id for f in evaluate(_snapshot(job, None)).findings}


# The manager's own log lines (controller-runtime's console encoder), as the real 3.5 manager writes them.
OPERATOR_LOG = (
    '2026-11-28T10:59:58Z\tINFO\tSuccessfully create a Pod for the Job\t{"controller": "lmevaljob", '
    '"LMEvalJob": {"name":"other","namespace":"demo"}, "namespace": "demo", "name": "other"}\n'
    '2026-11-28T11:00:01Z\tERROR\tReconciler error\t{"controller": "lmevaljob", "controllerGroup": '
    '"trustyai.opendatahub.io", "controllerKind": "LMEvalJob", "LMEvalJob": {"name":"evaljob","namespace":"demo"}, '
    '"namespace": "demo", "name": "evaljob", "reconcileID": "3c1f", "error": "failed to prepare CA bundle: '
    'configmaps \\"evaljob-ca-bundle\\" is forbidden: User \\"system:serviceaccount:redhat-ods-applications:'
    'trustyai-service-operator-controller-manager\\" cannot create resource \\"configmaps\\""}\n'
    '2026-11-28T11:00:02Z\tINFO\tunable to retrieve the status from the job\'s pod\t{"name": "evaljob-2"}\n'
)


def _operator_pod_of(snap: Any) -> tuple[str, str]:
    from lmeval_setup.doctor.operator_log import operator_pods

    pods = operator_pods(snap)
    assert len(pods) == 1
    return pods[0]


def test_a_terse_stuck_job_gets_the_operator_logs_lines_about_it(tmp_path: Path) -> None:
    from lmeval_setup.doctor.operator_log import collect_operator_log

    job = lmevaljob()  # never scheduled: no status at all, an hour old
    snap = _snapshot(job, None)
    ns, op_pod = _operator_pod_of(snap)
    fetched = []

    def fetch(namespace: str, pod: str, container: str, lines: int, limit: int) -> str:
        fetched.append((namespace, pod, container, lines, limit))
        return OPERATOR_LOG

    collect_operator_log(snap, [job], fetch)
    assert fetched == [(ns, op_pod, "manager", 2000, 1024 * 1024)]  # one bounded read
    stuck = next(f for f in evaluate(snap).findings if f.rule_id == "LME024")
    operator_lines = [ev for ev in stuck.evidence if ev.path == f"pod/{op_pod}/manager"]
    assert [ev.line for ev in operator_lines] == [2]  # not 'other', not 'evaljob-2'
    assert "failed to prepare CA bundle" in operator_lines[0].text
    back = read_dir(write_dir(snap, tmp_path / "collected"))  # --from-dir keeps the operator evidence
    assert next(f for f in evaluate(back).findings if f.rule_id == "LME024").evidence == stuck.evidence


def test_the_operator_log_is_not_read_when_every_job_explains_itself() -> None:
    from lmeval_setup.doctor.operator_log import collect_operator_log

    job, _, _, _ = CASES["quota"]
    snap = _snapshot(job, None)
    collect_operator_log(snap, [job], lambda *a: pytest.fail("read the operator log"))


def test_an_operator_crash_loop_is_lme107_with_the_containers_state() -> None:
    """The operator pod as the kubelet reports a manager that exits at start (here: a start-up option it
    refuses), while its ConfigMap exists."""
    snap = cluster_snapshot("rhoai-3.5", operator_replicas=1)
    deployment = snap.list("apps", "v1", "deployments")[0]
    deployment["status"] = {"replicas": 1, "unavailableReplicas": 1}
    operator = next(p for p in snap.list("", "v1", "pods") if p["metadata"]["name"] == "trustyai-operator-abc")
    operator["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                          "containerStatuses": [{"name": "manager", "ready": False, "restartCount": 6, "state": {
                              "waiting": {"reason": "CrashLoopBackOff",
                                          "message": "back-off 5m0s restarting failed container=manager"}},
                              "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
    hit = next(f for f in evaluate(snap).findings if f.rule_id == "LME107")
    assert "crash-looping" in hit.message
    assert any("CrashLoopBackOff, last exit code 1, restarts 6" in ev.text for ev in hit.evidence)


def test_from_dir_reads_the_operator_log_with_the_live_bounds(tmp_path: Path) -> None:
    """The job's lines are 1,500 lines back in the manager's log: within a live read's 2000, so --from-dir
    (which tails job logs at 400) must read the operator's log as far back, or the evidence differs."""
    from lmeval_setup.doctor.operator_log import collect_operator_log

    job = lmevaljob()
    snap = _snapshot(job, None)
    noise = "".join(f'2026-11-28T11:00:{i % 60:02d}Z\tINFO\tReconciling\t{{"name": "other-{i}"}}\n'
                    for i in range(1500))
    collect_operator_log(snap, [job], lambda *a: OPERATOR_LOG + noise)
    live = next(f for f in evaluate(snap).findings if f.rule_id == "LME024")
    assert any("failed to prepare CA bundle" in ev.text for ev in live.evidence)
    back = read_dir(write_dir(snap, tmp_path / "collected"))
    assert next(f for f in evaluate(back).findings if f.rule_id == "LME024").evidence == live.evidence


@pytest.mark.parametrize("minutes_ago, overdue", [(25, True), (2, False)])
def test_a_succeeded_job_whose_shutdown_never_succeeded_is_collected_whole(monkeypatch: pytest.MonkeyPatch,
                                                                           minutes_ago: int, overdue: bool) -> None:
    """Live collection drops the pods and managedFields of succeeded jobs; a Succeeded job without completeTime
    for SHUTDOWN_GRACE is a shutdown the controller keeps retrying (every line writes completeTime only after
    its --shutdown exec), so it keeps both and gets the operator's log: LME039 needs the pod and the time.
    Before, it was slimmed as healthy and LME039 could not fire on a live cluster."""
    from lmeval_setup.doctor import collect as C
    from lmeval_setup.doctor.operator_log import job_is_terse
    from lmeval_setup.rules import status as S

    monkeypatch.setattr(S, "utcnow", lambda: NOW)
    job = _complete_but_never_shut_down()
    job["metadata"]["managedFields"][0]["time"] = iso(NOW - timedelta(minutes=minutes_ago))
    assert C._needs_attention(job) is overdue
    assert bool(C.slim_if_healthy(job)["metadata"].get("managedFields")) is overdue
    assert job_is_terse(job, NOW) is overdue
    done = _completed_pod_still_running()  # completeTime written: the shutdown exec succeeded
    done["metadata"]["managedFields"] = job["metadata"]["managedFields"]
    assert not C._needs_attention(done)


def _workload(job: JSON, reason: str, message: str) -> JSON:
    """The Workload the operator's job manager made for `job`, with the QuotaReserved condition Kueue v0.6.2 writes
    when it cannot admit it (lmeval_setup/sandbox/kueue.py cites where each message comes from)."""
    return {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "Workload",
            "metadata": {"name": f"lmevaljob-{job['metadata']['name']}-8cfbe",
                         "namespace": job["metadata"]["namespace"],
                         "ownerReferences": [{"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
                                              "name": job["metadata"]["name"], "uid": "u", "controller": True}]},
            "spec": {"queueName": "team-a", "podSets": [{"name": job["metadata"]["name"], "count": 1}]},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": reason,
                                       "message": message, "lastTransitionTime": iso(NOW)}]}}


@pytest.mark.parametrize("reason, message", [
    ("Inadmissible", "LocalQueue team-a doesn't exist"),
    ("Inadmissible", "ClusterQueue cluster-queue doesn't exist"),
    ("Pending", "couldn't assign flavors to pod set evaljob: insufficient quota for cpu in flavor default-flavor in "
                "ClusterQueue"),
])
def test_a_workload_kueue_cannot_admit_names_why_at_once(reason: str, message: str, tmp_path: Path) -> None:
    """Two minutes old, so without its Workload the job is just waiting; its Workload says Kueue will not admit
    it, so LME034 is reported now, with Kueue's words; --from-dir reads the Workload back."""
    job = _kueue_job()
    job["metadata"]["creationTimestamp"] = iso(NOW - timedelta(minutes=2))
    snap = _snapshot(job, None)
    workload = _workload(job, reason, message)
    snap.add_all("kueue.x-k8s.io", "workloads", [workload], job["metadata"]["namespace"])
    hit = next(f for f in evaluate(snap).findings if f.rule_id == "LME034")
    assert message in hit.message
    assert any(ev.path == f"workload/{workload['metadata']['name']}.status.conditions[QuotaReserved]"
               and ev.text == f"QuotaReserved False, {reason}: {message}" for ev in hit.evidence), hit.evidence
    back = read_dir(write_dir(snap, tmp_path / "collected"))
    assert [f.message for f in evaluate(back).findings if f.rule_id == "LME034"] == [hit.message]


def test_a_workload_waiting_for_free_quota_is_patience_not_a_finding() -> None:
    """'insufficient unused quota' is a queue that will move: nothing until the job has waited STUCK_AFTER."""
    job = _kueue_job()
    job["metadata"]["creationTimestamp"] = iso(NOW - timedelta(minutes=2))
    snap = _snapshot(job, None)
    snap.add_all("kueue.x-k8s.io", "workloads", [_workload(
        job, "Pending", "couldn't assign flavors to pod set evaljob: insufficient unused quota for cpu in flavor "
        "default-flavor, 1 more needed")], job["metadata"]["namespace"])
    assert "LME034" not in {f.rule_id for f in evaluate(snap).findings}
