"""What the cluster does to an evaluation pod, live (issue 14 item 2): the real rhoai-3.5 controller and driver
(LMEVAL_SANDBOX_OPERATOR=real, lm-eval the stand-in), the real kube-apiserver and kube-controller-manager, and the
sandbox kubelet. One sandbox, four jobs at once:

- `pvc-pending` (outputs.pvcManaged): the controller creates `<job>-pvc` without a StorageClass; the real
  PersistentVolume controller reports FailedBinding ("no storage class is set": the sandbox, like a cluster
  without a default StorageClass, has none) and the pod stays unschedulable (the sandbox kubelet schedules as
  the scheduler's VolumeBinding plugin does) -> LME040, the scheduler's verdict folded into it;
- `bad-size` (pvcManaged.size "ten gigs"): the real controller's resource.MustParse panics, controller-runtime
  recovers and requeues, the job never gets a status -> LME040 from the spec;
- `evicted`: the kubelet's eviction manager (sandbox hook: annotation sandbox.lmeval-setup.io/evict, which the
  controller copies from the job to the pod) evicts the pod for ephemeral-storage; the controller fails the job
  with the main container's state -> LME036 with the kubelet's message;
- `driver-crash`: the `driver` init container exits 1 (sandbox hook: annotation sandbox.lmeval-setup.io/crash,
  with the real driver's copy error); the pod fails and the controller, which waits for `main`, leaves the job
  Scheduled -> LME037.

Each asserts rule, evidence and fix; `doctor --from-dir` on what `--collect` wrote finds the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testsupport import wait_for

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import rule
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import realoperator
from lmeval_setup.sandbox.kubelet import CRASH_ANNOTATION, EVICT_ANNOTATION

pytestmark = pytest.mark.controlplane
NS = "lifecycle-live"
NO_STORAGE_CLASS = "no persistent volumes available for this claim and no storage class is set"


def _job(name: str, *, annotations: dict[str, str] | None = None, pvc_size: str | None = None) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=True, namespace=NS)
    if annotations:
        body["metadata"]["annotations"] = annotations
    if pvc_size is not None:
        body["spec"]["outputs"] = {"pvcManaged": {"size": pvc_size}}
    return body


def _get(kube: Any, plural: str, name: str) -> dict[str, Any]:
    return kube.get_or_none(resource_path("", "v1", plural, NS, name)) or {}


def _events_about(kube: Any, kind: str, name: str) -> list[dict[str, Any]]:
    items = kube.get(resource_path("", "v1", "events", NS)).get("items", [])
    return [e for e in items if (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name]


def _cluster_reached_every_state(kube: Any) -> bool:
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
    evicted = (kube.get(f"{jobs}/evicted").get("status") or {})
    scheduled_pod = _get(kube, "pods", "pvc-pending")
    return (evicted.get("reason") == "Failed"
            and any(e.get("reason") == "FailedBinding" for e in _events_about(kube, "PersistentVolumeClaim",
                                                                              "pvc-pending-pvc"))
            and any(c.get("reason") == "Unschedulable"
                    for c in (scheduled_pod.get("status") or {}).get("conditions") or [])
            and (_get(kube, "pods", "driver-crash").get("status") or {}).get("phase") == "Failed")


def _finding(result: Any, job: str, rule_id: str) -> Any:
    found = next((f for f in result.findings if f.target.name == job and f.rule_id == rule_id), None)
    assert found is not None, "\n".join(f"{f.target.name} {f.rule_id} {f.message}" for f in result.findings)
    return found


def test_pod_lifecycle_failures_are_explained_live(new_controlplane: Any, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir
    from lmeval_setup.sandbox.harness import running_sandbox
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile("rhoai-3.5"))
    if missing:
        pytest.skip(f"real operator for rhoai-3.5: {missing}")
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")
    monkeypatch.setenv(realoperator.LM_EVAL_SWITCH, "standin")
    with running_sandbox(new_controlplane, "rhoai-3.5", "bootstrapped") as sb:
        kube = sb.kube
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
        jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
        kube.create(jobs, _job("pvc-pending", pvc_size="1Gi"))
        kube.create(jobs, _job("bad-size", pvc_size="ten gigs"))
        kube.create(jobs, _job("evicted", annotations={EVICT_ANNOTATION: "ephemeral-storage"}))
        kube.create(jobs, _job("driver-crash", annotations={CRASH_ANNOTATION: "driver"}))
        wait_for("every job to reach its failure", lambda: _cluster_reached_every_state(kube), timeout=120)

        snapshot = collect(kube, Scope(namespace=NS))
        result = evaluate(snapshot)

        # The real PersistentVolume controller's verdict (a Normal event, which a live doctor does not list):
        binding = _events_about(kube, "PersistentVolumeClaim", "pvc-pending-pvc")
        assert {(e["type"], e["reason"], e["message"]) for e in binding} == {("Normal", "FailedBinding",
                                                                              NO_STORAGE_CLASS)}
        pending = _finding(result, "pvc-pending", "LME040")
        assert "no default StorageClass" in pending.message
        texts = [ev.text for ev in pending.evidence]
        assert "persistentvolumeclaim pvc-pending-pvc: Pending, storageClassName: (none)" in texts, texts
        assert any("pod has unbound immediate PersistentVolumeClaims" in t for t in texts), texts  # LME021 folded
        assert not [f for f in result.findings if f.target.name == "pvc-pending" and f.rule_id == "LME021"]
        assert "is-default-class" in rule("LME040").fix

        # The controller really panics on the size and never writes a status (its log says so).
        bad = _finding(result, "bad-size", "LME040")
        assert any(ev.path == "spec.outputs.pvcManaged.size" and "ten gigs" in ev.text for ev in bad.evidence)
        assert not (kube.get(f"{jobs}/bad-size").get("status") or {}).get("state")
        assert _get(kube, "persistentvolumeclaims", "bad-size-pvc") == {}

        evicted = _finding(result, "evicted", "LME036")
        assert any("The node was low on resource: ephemeral-storage" in ev.text
                   and ev.path == "pod/evicted.status.reason" for ev in evicted.evidence), evicted.evidence
        assert "ephemeral-storage" in rule("LME036").fix

        crashed = _finding(result, "driver-crash", "LME037")
        assert any("exit code 1" in ev.text for ev in crashed.evidence), crashed.evidence
        assert (kube.get(f"{jobs}/driver-crash").get("status") or {}).get("state") == "Scheduled"

        back = read_dir(write_dir(snapshot, tmp_path / "collected"))
        live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
        assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                      .findings) == live
