"""Failure paths of the driver and of the pod's lifecycle, live, in one sandbox (issue 14 item 2). Custom tasks
from git and S3 offline storage: the real rhoai-3.5 controller and the real driver in the job
pod (LMEVAL_SANDBOX_OPERATOR=real; lm-eval itself is the stand-in, it never starts here). The driver clones the
job's taskList.customTasks git source before lm-eval; an unreachable repository fails the job with the driver's
own message, which the controller reads through `driver --get-status`. The doctor names LME031 with that message
as evidence; a job without online access gets the driver's refusal, LME001; an S3 download that fails is LME032
(the driver runs the job image's s3_downloader.py, here its sandbox stand-in, which behaves as the image's script
does: TLS verification without a caBundle stops it, an endpoint it cannot reach fails it); `doctor --from-dir` on
what `--collect` wrote finds the same.

The pod's lifecycle, in namespace lifecycle-live, with the real kube-controller-manager and the sandbox kubelet:
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
One sandbox serves both tests (module scope): its start and the jobs' runs are paid once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
NS = "git-tasks"
LIFE_NS = "lifecycle-live"
NO_STORAGE_CLASS = "no persistent volumes available for this claim and no storage class is set"
REPO_URL = "https://git.invalid/acme/eval-tasks.git"  # .invalid never resolves (RFC 2606)


def _git_job(name: str, *, online: bool) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=online, namespace=NS)
    body["spec"]["taskList"] = {"taskNames": ["acme_task"],
                                "customTasks": {"source": {"git": {"url": REPO_URL, "path": "tasks"}}}}
    return body


def _s3_job(name: str, *, verify_ssl: bool | None = None) -> dict[str, Any]:
    """offline.storage.s3: the driver runs the job image's scripts/s3_downloader.py before lm-eval, with the
    Secret's values in AWS_* (the kubelet resolves them) and S3_VERIFY_SSL ("true" unless verifySSL: false)."""
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=False, namespace=NS)

    def ref(key: str) -> dict[str, str]:
        return {"name": "eval-s3", "key": key}

    body["spec"]["offline"] = {"storage": {"s3": {
        "accessKeyId": ref("key"), "secretAccessKey": ref("secret"), "bucket": ref("bucket"), "path": "models",
        "region": ref("region"), "endpoint": ref("endpoint")}}}
    if verify_ssl is not None:
        body["spec"]["offline"]["storage"]["s3"]["verifySSL"] = verify_ssl
    return body


def _life_job(name: str, *, annotations: dict[str, str] | None = None, pvc_size: str | None = None) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=True, namespace=LIFE_NS)
    if annotations:
        body["metadata"]["annotations"] = annotations
    if pvc_size is not None:
        body["spec"]["outputs"] = {"pvcManaged": {"size": pvc_size}}
    return body


def _get(kube: Any, plural: str, name: str) -> dict[str, Any]:
    return kube.get_or_none(resource_path("", "v1", plural, LIFE_NS, name)) or {}


def _events_about(kube: Any, kind: str, name: str) -> list[dict[str, Any]]:
    items = kube.get(resource_path("", "v1", "events", LIFE_NS)).get("items", [])
    return [e for e in items if (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name]


def _cluster_reached_every_state(kube: Any) -> bool:
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", LIFE_NS)
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


@dataclass
class Live:
    kube: Any
    snapshot: Any  # git-tasks
    result: Any
    life_snapshot: Any  # lifecycle-live
    life_result: Any


def _git_and_s3_failed(kube: Any) -> bool:
    states = [(j.get("status") or {}) for j in
              kube.get(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)).get("items", [])]
    return len(states) == 4 and all(s.get("state") == "Complete" and s.get("reason") == "Failed" for s in states)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from testsupport import require_controlplane_binaries

    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile("rhoai-3.5"))
    if missing:
        pytest.skip(f"real operator for rhoai-3.5: {missing}")
    plane = ControlPlane(tmp_path_factory.mktemp("driver-live"), require_controlplane_binaries())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(realoperator.ENV_SWITCH, "real")
        patch.setenv(realoperator.LM_EVAL_SWITCH, "standin")
        plane.start()
        try:
            with running_sandbox(plane, "rhoai-3.5", "bootstrapped") as sb:  # online permitted
                kube = sb.kube
                _create_git_and_s3_jobs(kube)
                _create_lifecycle_jobs(kube)
                wait_for("every job to reach its failure",
                         lambda: _git_and_s3_failed(kube) and _cluster_reached_every_state(kube), timeout=150)
                snapshot = collect(kube, Scope(namespace=NS))
                life_snapshot = collect(kube, Scope(namespace=LIFE_NS))
                yield Live(kube, snapshot, evaluate(snapshot), life_snapshot, evaluate(life_snapshot))
        finally:
            plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def _create_git_and_s3_jobs(kube: Any) -> None:
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
    kube.create(jobs, _git_job("clone-fails", online=True))
    kube.create(jobs, _git_job("offline-git", online=False))
    kube.create(resource_path("", "v1", "secrets", NS), {"metadata": {"name": "eval-s3"}, "stringData": {
        "key": "AKIAEXAMPLE", "secret": "not-a-real-secret", "bucket": "evals", "region": "us-east-1",
        "endpoint": "https://s3.invalid"}})
    kube.create(jobs, _s3_job("s3-assets"))
    kube.create(jobs, _s3_job("s3-unreachable", verify_ssl=False))


def _create_lifecycle_jobs(kube: Any) -> None:
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": LIFE_NS}})
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", LIFE_NS)
    kube.create(jobs, _life_job("pvc-pending", pvc_size="1Gi"))
    kube.create(jobs, _life_job("bad-size", pvc_size="ten gigs"))
    kube.create(jobs, _life_job("evicted", annotations={EVICT_ANNOTATION: "ephemeral-storage"}))
    kube.create(jobs, _life_job("driver-crash", annotations={CRASH_ANNOTATION: "driver"}))


def _same_from_dir(snapshot: Any, result: Any, directory: Path) -> None:
    """`doctor --from-dir` on what `--collect` wrote finds the same."""
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir

    back = read_dir(write_dir(snapshot, directory))
    live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
    assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                  .findings) == live


def test_git_custom_task_and_s3_failures_are_explained(live: Live, tmp_path: Path) -> None:
    kube, snapshot, result = live.kube, live.snapshot, live.result
    by_job = {(f.target.name, f.rule_id): f for f in result.findings}

    clone = by_job.get(("clone-fails", "LME031"))
    assert clone is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    status_evidence = next(ev for ev in clone.evidence if ev.path == "status.message")
    assert "failed to clone git repository" in status_evidence.text and "git.invalid" in status_evidence.text
    assert "git URL" in rule("LME031").fix

    offline = by_job.get(("offline-git", "LME001"))
    assert offline is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert any("fetching external git tasks is not allowed" in ev.text for ev in offline.evidence)

    # verifySSL defaults to true and no caBundle is given: the image's script stops before it connects,
    # and the driver prints its line in main's log.
    s3 = by_job.get(("s3-assets", "LME032"))
    assert s3 is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert any(ev.text == "failed to download assets from S3: exit status 1" and ev.path == "status.message"
               for ev in s3.evidence), s3.evidence
    assert any("SSL verification enabled, but no certificate path found" in ev.text
               and ev.path == "pod/s3-assets/main" for ev in s3.evidence), s3.evidence
    assert "caBundle" in s3.message
    assert "S3 Secret" in rule("LME032").fix and "caBundle" in rule("LME032").fix
    # verifySSL: false: the script connects to the Secret's endpoint, which the pod cannot reach.
    unreachable = by_job.get(("s3-unreachable", "LME032"))
    assert unreachable is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert [ev.text for ev in unreachable.evidence if ev.path == "status.message"] == [
        "failed to download assets from S3: exit status 1"]
    assert not any("certificate" in ev.text for ev in unreachable.evidence)

    # The real manager's log names each job the way doctor/operator_log.py looks for it (name and namespace
    # on one line), so operator-log evidence finds its lines in the real format.
    from lmeval_setup.doctor.operator_log import lines_about, operator_pods

    (op_ns, op_pod), = operator_pods(snapshot)
    manager_log = kube.pod_log(op_ns, op_pod, R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
    about = lines_about(manager_log, "clone-fails", NS)
    assert about and all("clone-fails" in line and NS in line for _, line in about), manager_log[-2000:]
    assert not any("offline-git" in line for _, line in about)

    _same_from_dir(snapshot, result, tmp_path / "collected")


def test_pod_lifecycle_failures_are_explained(live: Live, tmp_path: Path) -> None:
    kube, result = live.kube, live.life_result
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", LIFE_NS)
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

    # The controller really panics on the size (controller-runtime recovers it) and never writes a status.
    bad = _finding(result, "bad-size", "LME040")
    assert any(ev.path == "spec.outputs.pvcManaged.size" and "ten gigs" in ev.text for ev in bad.evidence)
    assert not (kube.get(f"{jobs}/bad-size").get("status") or {}).get("state")
    assert _get(kube, "persistentvolumeclaims", "bad-size-pvc") == {}
    from lmeval_setup.doctor.operator_log import operator_pods

    (op_ns, op_pod), = operator_pods(live.life_snapshot)
    manager_log = kube.pod_log(op_ns, op_pod, R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
    assert "Observed a panic" in manager_log and "quantities must match the regular expression" in manager_log

    evicted = _finding(result, "evicted", "LME036")
    assert any("The node was low on resource: ephemeral-storage" in ev.text
               and ev.path == "pod/evicted.status.reason" for ev in evicted.evidence), evicted.evidence
    assert "ephemeral-storage" in rule("LME036").fix

    crashed = _finding(result, "driver-crash", "LME037")
    assert any("exit code 1" in ev.text for ev in crashed.evidence), crashed.evidence
    assert (kube.get(f"{jobs}/driver-crash").get("status") or {}).get("state") == "Scheduled"

    _same_from_dir(live.life_snapshot, result, tmp_path / "collected")
