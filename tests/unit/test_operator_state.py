"""One answer to "has the running operator loaded the current start-up configuration" (issue 16 item 1) and
to "is this Deployment ready" (issue 18 item 1), seen through every caller: the plan (what bootstrap's
restart step will do), the doctor (LME106, LME107) and the function itself. The cluster states are the
doctor's plain-dict Snapshots; detect() reads them as it reads a live cluster.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from doctor_support import NOW, cluster_snapshot, iso

from lmeval_setup.bootstrap.plan import Desired, make_plan
from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.platform.operator_state import (
    LMES_HASH_ANNOTATION,
    Verdict,
    deployment_readiness,
    startup_config_hash,
    startup_config_of,
)

OPEN = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}
UNMANAGED = {R.MANAGED_ANNOTATION: "false"}
EDITED = NOW - timedelta(hours=1)


def operator_pod(snap: Snapshot) -> dict[str, Any]:
    return next(o for (g, plural, _, _), o in snap.objects.items() if plural == "pods")


def operator_config(snap: Snapshot) -> dict[str, Any]:
    return next(o for (g, plural, _, name), o in snap.objects.items() if name == R.OPERATOR_CONFIGMAP)


def restart_planned(snap: Snapshot) -> bool:
    """What bootstrap would do, asking for the values the ConfigMap already holds (no data patch)."""
    facts = detect(snap)
    desired = Desired(facts.configmap_permissions.online, facts.configmap_permissions.code_execution)
    plan = make_plan(facts, desired, "lmeval-setup-revert")
    assert plan.configmap_data_patch is None
    return plan.restart_possible


def doctor_says_restart(snap: Snapshot) -> bool:
    return "LME106" in {f.rule_id for f in evaluate(snap).findings}


def test_same_second_cannot_tell_so_bootstrap_restarts_and_the_doctor_agrees() -> None:
    """A ConfigMap edit in the second the pod started used to count as loaded (>= on one-second times)."""
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED, pod_started=EDITED)
    state = startup_config_of(detect(snap))
    assert state.verdict is Verdict.UNKNOWN and "same second" in state.why
    assert restart_planned(snap)
    assert doctor_says_restart(snap)


def test_a_strictly_later_start_is_loaded_and_an_earlier_one_stale() -> None:
    later = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED,
                             pod_started=EDITED + timedelta(seconds=1))
    assert startup_config_of(detect(later)).loaded
    assert not restart_planned(later) and not doctor_says_restart(later)
    earlier = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED,
                               pod_started=EDITED - timedelta(seconds=1))
    assert startup_config_of(detect(earlier)).verdict is Verdict.STALE
    assert restart_planned(earlier) and doctor_says_restart(earlier)


def test_a_matching_stamp_is_loaded_whatever_the_times_say() -> None:
    """The doctor used to ignore a matching stamp and read the managedFields time of the manager that
    owns the keys, bumped here by a later metadata-only write of the same manager: it said LME106 while
    bootstrap had nothing to do."""
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED,
                            pod_started=EDITED - timedelta(minutes=5))
    stamp = startup_config_hash(operator_config(snap), R.PROFILES["rhoai-2.22"].release)
    operator_pod(snap)["metadata"]["annotations"] = {LMES_HASH_ANNOTATION: stamp}
    assert startup_config_of(detect(snap)).loaded
    assert not restart_planned(snap)
    assert not doctor_says_restart(snap)


def test_a_stale_stamp_restarts_unless_the_pod_started_after_the_change() -> None:
    stale = cluster_snapshot(pod_annotations={LMES_HASH_ANNOTATION: "0000"}, cm_changed=EDITED,
                             cm_data={"lmes-default-batch-size": "4"}, cm_annotations=UNMANAGED,
                             pod_started=EDITED - timedelta(minutes=1))
    assert restart_planned(stale) and doctor_says_restart(stale)
    # Restarted by someone else (oc rollout restart) after the change: the old stamp no longer matters.
    restarted = cluster_snapshot(pod_annotations={LMES_HASH_ANNOTATION: "0000"}, cm_changed=EDITED,
                                 cm_data={"lmes-default-batch-size": "4"}, cm_annotations=UNMANAGED,
                                 pod_started=EDITED + timedelta(minutes=1))
    assert not restart_planned(restarted) and not doctor_says_restart(restarted)


def test_writes_that_own_no_start_up_key_are_not_changes() -> None:
    """A label or annotation written by another manager after the pod started changes nothing it loaded."""
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED,
                            pod_started=EDITED + timedelta(minutes=1))
    operator_config(snap)["metadata"]["managedFields"].append(
        {"manager": "kubectl-label", "operation": "Update", "time": iso(NOW),
         "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}})
    assert startup_config_of(detect(snap)).loaded
    assert not restart_planned(snap) and not doctor_says_restart(snap)


@pytest.mark.parametrize("profile", ["rhoai-2.25", "rhoai-3.5", "odh-2.35"])
def test_never_a_restart_where_permissions_are_read_per_job(profile: str) -> None:
    """Per-job keys written after the pod started are not start-up changes; and even a stale start-up
    key never makes bootstrap restart on these releases (the doctor still reports it)."""
    per_job = cluster_snapshot(profile, cm_data=OPEN, cm_changed=EDITED, pod_started=EDITED - timedelta(minutes=1))
    assert startup_config_of(detect(per_job)).loaded
    stale = cluster_snapshot(profile, cm_data={"lmes-default-batch-size": "4"}, cm_annotations=UNMANAGED,
                             cm_changed=EDITED, pod_started=EDITED - timedelta(minutes=1))
    state = startup_config_of(detect(stale))
    assert state.verdict is Verdict.STALE and not state.restart_needed
    facts = detect(stale)
    assert not make_plan(facts, Desired(), "lmeval-setup-revert").restart_possible
    assert doctor_says_restart(stale)


def test_unknown_start_time_cannot_tell() -> None:
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED)
    del operator_pod(snap)["status"]["startTime"]
    state = startup_config_of(detect(snap))
    assert state.verdict is Verdict.UNKNOWN and state.restart_needed


def test_the_manager_container_start_counts_not_the_pod_start() -> None:
    """A manager container restarted after the change re-read the ConfigMap."""
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations=UNMANAGED, cm_changed=EDITED,
                            pod_started=EDITED - timedelta(minutes=10))
    operator_pod(snap)["status"]["containerStatuses"] = [
        {"name": R.OPERATOR_CONTAINER, "state": {"running": {"startedAt": iso(EDITED + timedelta(seconds=30))}}}]
    assert startup_config_of(detect(snap)).loaded


# -- is this Deployment ready --------------------------------------------------------------------------------
def deployment(wanted: int = 1, **status: int) -> dict[str, Any]:
    return {"metadata": {"name": "d", "generation": 2, "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": wanted}, "status": {"observedGeneration": 2, **status}}


def rs(name: str, revision: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": revision}}}


def pod_of(owner: str, name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": owner}], **meta},
            "status": {"phase": "Running"}}


def test_deployment_readiness() -> None:
    done = deployment(availableReplicas=1, updatedReplicas=1, replicas=1)
    assert deployment_readiness(done).rolled_out
    assert not deployment_readiness(deployment(0)).available
    assert not deployment_readiness(None).available
    rolling = deployment(availableReplicas=1, updatedReplicas=1, replicas=2)
    assert deployment_readiness(rolling).available and not deployment_readiness(rolling).rolled_out
    unseen = {**done, "status": {**done["status"], "observedGeneration": 1}}
    assert not deployment_readiness(unseen).rolled_out
    sets = [rs("d-new", "2"), rs("d-old", "1")]
    # The counters say done while a pod of the older ReplicaSet still terminates: not rolled out.
    terminating = pod_of("d-old", "old", deletionTimestamp="2026-01-01T00:00:00Z")
    readiness = deployment_readiness(done, pods=[pod_of("d-new", "new"), terminating], replicasets=sets)
    assert not readiness.rolled_out and "old" in readiness.detail
    finished = {**pod_of("d-old", "evicted"), "status": {"phase": "Failed"}}
    assert deployment_readiness(done, pods=[pod_of("d-new", "new"), finished], replicasets=sets).rolled_out


def test_a_pod_started_in_the_second_its_configmap_was_created_loaded_it() -> None:
    """Fresh clusters: the platform creates the ConfigMap and the Deployment together; a fast pod starts
    in the same second. Not written since, the ConfigMap is what the manager (which cannot start without
    it) loaded: no restart, no LME106 on a healthy cluster."""
    snap = cluster_snapshot()
    config = operator_config(snap)
    created = config["metadata"]["creationTimestamp"]
    operator_pod(snap)["status"]["startTime"] = created
    assert startup_config_of(detect(snap)).loaded
    assert not doctor_says_restart(snap)
    # Written again in that second by someone else: the pod may have loaded the first version.
    config["metadata"]["managedFields"].append({"manager": "kubectl-patch", "operation": "Update", "time": created,
                                                "fieldsV1": {"f:data": {"f:lmes-default-batch-size": {}}}})
    config["data"]["lmes-default-batch-size"] = "4"
    assert startup_config_of(detect(snap)).verdict is Verdict.UNKNOWN


def test_the_doctor_reads_availability_from_the_same_predicate() -> None:
    """LME107 and detect's `operator_available` ask deployment_readiness: all wanted replicas available."""
    snap = cluster_snapshot(operator_replicas=2)
    deployment = next(o for (g, plural, _, _), o in snap.objects.items() if plural == "deployments")
    deployment["status"] = {"availableReplicas": 1}
    assert not detect(snap).operator.available
    [finding] = [f for f in evaluate(snap).findings if f.rule_id == "LME107"]
    assert "only 1 of 2 replicas are available" in finding.message
