"""LME040: the outputs PVC the operator creates (spec.outputs.pvcManaged), from the object states the real
controller (controllers/lmes/storage.go), apiserver and persistentvolume controller leave: a size the
controller's resource.MustParse cannot parse or the apiserver refuses (lint and doctor), and a claim that stays
Pending (no default StorageClass, a failed provisioning). tests/integration/test_doctor_driver_live.py
reproduces the Pending claim live."""

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
from lmeval_setup.lint import lint_text
from lmeval_setup.rules.catalog import rule

JSON = dict[str, Any]
NO_CLASS = "no persistent volumes available for this claim and no storage class is set"
UNBOUND = ("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are "
           "available: 1 Preemption is not helpful for scheduling.")


def _manifest(size: str) -> str:
    return ("apiVersion: trustyai.opendatahub.io/v1alpha1\nkind: LMEvalJob\nmetadata:\n  name: j\nspec:\n"
            "  model: local-completions\n  taskList:\n    taskNames: [arc_easy]\n  outputs:\n    pvcManaged:\n"
            f"      size: {size}\n")


@pytest.mark.parametrize(("size", "why"), [
    ('"lots"', "is not a Kubernetes quantity"), ('"10GB"', "is not a Kubernetes quantity"),
    ('"1K"', "is not a Kubernetes quantity"), ('""', "is not a Kubernetes quantity"),
    ('"0"', "is not greater than zero"), ('"0Gi"', "is not greater than zero"), ('"-1Gi"', "is not greater"),
])
def test_lint_finds_a_size_the_controller_cannot_use_at_its_line(size: str, why: str) -> None:
    found = [f for f in lint_text(_manifest(size), "job.yaml").findings if f.rule_id == "LME040"]
    assert len(found) == 1 and why in found[0].message, found
    assert (found[0].target.file, found[0].target.line) == ("job.yaml", 11)
    assert found[0].evidence[0].path == "spec.outputs.pvcManaged.size"


@pytest.mark.parametrize("size", ["10Gi", "500Mi", "1.5Ti", "1e9", "100", "0.5Gi", "+2G"])
def test_lint_accepts_quantities(size: str) -> None:
    assert "LME040" not in {f.rule_id for f in lint_text(_manifest(size), "job.yaml").findings}


def test_a_managed_pvc_without_a_size_is_the_empty_quantity() -> None:
    text = _manifest('"x"').replace('pvcManaged:\n      size: "x"\n', "pvcManaged: {}\n")
    found = [f for f in lint_text(text, "job.yaml").findings if f.rule_id == "LME040"]
    assert found and "(not set)" in found[0].evidence[0].text


def _managed_job(**status: Any) -> JSON:
    job = lmevaljob(outputs={"pvcManaged": {"size": "10Gi"}}, allowOnline=True)
    return with_status(job, **status) if status else job


def _claim(phase: str = "Pending", storage_class: str | None = None, age: timedelta = timedelta(minutes=20)) -> JSON:
    spec: JSON = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "evaljob-pvc", "namespace": "demo", "creationTimestamp": iso(NOW - age)},
            "spec": spec, "status": {"phase": phase}}


def _event(involved_kind: str, name: str, reason: str, message: str, component: str, kind: str = "Warning") -> JSON:
    return {"apiVersion": "v1", "kind": "Event", "type": kind, "reason": reason, "message": message,
            "metadata": {"name": f"{name}.{reason}", "namespace": "demo"},
            "involvedObject": {"kind": involved_kind, "name": name, "namespace": "demo"},
            "source": {"component": component}, "lastTimestamp": iso(NOW - timedelta(minutes=1))}


def _snapshot(job: JSON, claim: JSON | None, events: list[JSON], job_pod: JSON | None = None) -> Any:
    snap = cluster_snapshot("rhoai-3.5", dsc_permit={"permitOnline": "allow", "permitCodeExecution": "allow"})
    add_job(snap, copy.deepcopy(job), copy.deepcopy(job_pod) if job_pod else None)
    snap.add_all("", "persistentvolumeclaims", [claim] if claim else [], "demo")
    snap.add_all("", "events", events, "demo")
    return snap


def _pending_pod() -> JSON:
    return pod(phase="Pending", main={"state": {"waiting": {"reason": "ContainerCreating"}}},
               conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": UNBOUND}])


def test_a_pending_claim_without_a_default_storage_class_is_lme040_and_the_root_cause(tmp_path: Path) -> None:
    job = _managed_job(state="Scheduled", lastScheduleTime=iso(NOW - timedelta(minutes=20)))
    events = [_event("PersistentVolumeClaim", "evaljob-pvc", "FailedBinding", NO_CLASS,
                     "persistentvolume-controller", "Normal"),  # the PV controller's is Normal (seen live)
              _event("Pod", "evaljob", "FailedScheduling", UNBOUND, "default-scheduler")]
    snap = _snapshot(job, _claim(), events, _pending_pod())
    findings = [f for f in evaluate(snap).findings if f.target.kind == "LMEvalJob"]
    assert [f.rule_id for f in findings if f.at_least("error")] == ["LME040"], [(f.rule_id, f.message)
                                                                              for f in findings]
    hit = findings[0] if findings[0].rule_id == "LME040" else next(f for f in findings if f.rule_id == "LME040")
    assert "no default StorageClass" in hit.message
    texts = [ev.text for ev in hit.evidence]
    assert f"FailedBinding: {NO_CLASS}" in texts  # a must-gather holds Normal events too
    assert any("storageClassName: (none)" in t for t in texts)
    assert any("unbound immediate PersistentVolumeClaims" in t for t in texts)  # the folded LME021
    assert "is-default-class" in rule("LME040").fix and "pvcName" in rule("LME040").fix
    back = read_dir(write_dir(snap, tmp_path / "collected"))  # --from-dir on --collect output: the same
    assert sorted((f.rule_id, f.message) for f in evaluate(back, now=NOW).findings) == sorted(
        (f.rule_id, f.message) for f in evaluate(snap, now=NOW).findings)


def test_a_claim_without_a_class_is_reported_at_once_without_any_event() -> None:
    """A live doctor lists Warning events only; the claim's missing class is the proof on its own."""
    snap = _snapshot(_managed_job(state="Scheduled"), _claim(age=timedelta(seconds=20)), [])
    hit = next(f for f in evaluate(snap, now=NOW).findings if f.rule_id == "LME040")
    assert "no default StorageClass" in hit.message


def test_a_failed_provisioning_names_the_provisioners_words() -> None:
    message = 'storageclass.storage.k8s.io "fast-ssd" not found'
    snap = _snapshot(_managed_job(state="Scheduled"), _claim(storage_class="fast-ssd"),
                     [_event("PersistentVolumeClaim", "evaljob-pvc", "ProvisioningFailed", message,
                             "persistentvolume-controller")])
    hit = next(f for f in evaluate(snap, now=NOW).findings if f.rule_id == "LME040")
    assert f"ProvisioningFailed: {message}" in hit.message


def test_a_claim_pending_long_without_events_waits_for_its_provisioner() -> None:
    snap = _snapshot(_managed_job(state="Scheduled"), _claim(storage_class="slow"), [])
    hit = next(f for f in evaluate(snap, now=NOW).findings if f.rule_id == "LME040")
    assert "'slow' has not provisioned a volume in 20 minutes" in hit.message


@pytest.mark.parametrize(("claim", "job"), [
    (_claim(phase="Bound"), _managed_job(state="Running")),  # bound: fine
    (_claim(storage_class="gp3", age=timedelta(minutes=1)), _managed_job(state="Scheduled")),  # provisioning
    (_claim(), _managed_job(state="Complete", reason="Succeeded")),  # done with it
])
def test_healthy_or_young_claims_are_not_reported(claim: JSON, job: JSON) -> None:
    assert "LME040" not in {f.rule_id for f in evaluate(_snapshot(job, claim, []), now=NOW).findings}


def test_a_job_that_never_started_because_of_its_size_is_one_lme040() -> None:
    """The controller panics on the size before anything else: no status, no PVC, no pod. The stuck symptom
    (LME024) is evidence of the cause, not a second finding."""
    job = lmevaljob(outputs={"pvcManaged": {"size": "ten gigs"}}, allowOnline=True)
    findings = [f for f in evaluate(_snapshot(job, None, []), now=NOW).findings if f.target.kind == "LMEvalJob"]
    assert [f.rule_id for f in findings] == ["LME040"], [(f.rule_id, f.message) for f in findings]
    assert any(ev.path == "status.state" for ev in findings[0].evidence)
