"""A missing trustyai-service-operator-config makes the real manager exit 1 at start on every line (pinned by
test_operator_sources.py): the doctor names that as the cause when the operator pod crash-loops (LME107)."""

from __future__ import annotations

import pytest
from doctor_support import cluster_snapshot

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R

CRASHING = {"name": "manager", "ready": False, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}


def _without_configmap(profile: str, replicas: int = 1) -> Snapshot:
    snap = cluster_snapshot(profile, operator_replicas=replicas)
    ns = R.PROFILES[profile].release.default_applications_namespace
    snap.objects.pop(("", "configmaps", ns, R.OPERATOR_CONFIGMAP))
    snap.absent.add(("", "configmaps", ns, R.OPERATOR_CONFIGMAP))
    deployment = snap.objects[("apps", "deployments", ns, R.OPERATOR_DEPLOYMENT)]
    deployment["status"] = {"replicas": replicas, "unavailableReplicas": replicas}
    for key, obj in snap.objects.items():
        if key[1] == "pods" and key[2] == ns:
            obj["status"].update(phase="Running", conditions=[{"type": "Ready", "status": "False"}],
                                 containerStatuses=[dict(CRASHING)])
    return snap


@pytest.mark.parametrize("profile", list(R.PROFILES))
def test_crash_loop_from_a_missing_configmap_is_named(profile: str) -> None:
    findings = [f for f in evaluate(_without_configmap(profile)).findings if f.rule_id == "LME107"]
    assert len(findings) == 1
    finding = findings[0]
    assert "crash-looping" in finding.message and R.OPERATOR_CONFIGMAP in finding.message
    assert any("CrashLoopBackOff" in ev.text and "exit code 1" in ev.text for ev in finding.evidence)
    assert any(f"{R.OPERATOR_CONFIGMAP} not found" in ev.text for ev in finding.evidence)


def test_scaled_to_zero_is_still_scaled_to_zero() -> None:
    findings = [f for f in evaluate(_without_configmap("rhoai-2.22", replicas=0)).findings if f.rule_id == "LME107"]
    assert len(findings) == 1 and "scaled to 0" in findings[0].message
