"""doctor --fix --replace re-creates a job under its name only once the old job's pod is gone and the operator's
pending check of the old job has fired (real apiserver).

The operator names a job's pod after the job. A replacement created while the old pod still terminates makes
the operator's pod create fail with AlreadyExists; the real rhoai-2.22 controller then retried into a lost
status poll and left the corrected job Scheduled, its pod running, never read again (test_doctor_fix's
--replace step timed out after 400 s at load 25 so). And the operator's work queue keeps one delayed entry per
job name: a job re-created within a pod-checking interval of the old one's last check had its first check
merged into the old one's, which found it too early and armed nothing (the job stayed Running, its pod
done; the manager's log showed no check after that). Here the old pod is held terminating by a finalizer and
the interval is 2 s: no operator and no kubelet are needed to show the order of the writes (~6 s on a plane of
its own).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from testsupport import wait_for

from lmeval_setup.fix.engine import JobPlan
from lmeval_setup.fix.remediate import FixRun, JobFix, create_fixed_jobs
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import operator_build

pytestmark = pytest.mark.controlplane

NS = "replace-order"
POLL = 2.0  # the operator's lmes-pod-checking-interval for this run (10 s by default)
NAME = "eval-replace-me"
HOLD = "lmeval-setup.io/test-hold"
JOBS = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
POD = resource_path("", "v1", "pods", NS, NAME)


def _install_lmevaljob_crd(kube: Kube) -> None:
    shipped = operator_build.shipped_crd("rhoai-2.22")
    if shipped is None:
        pytest.skip(f"no LMEvalJob CRD of rhoai-2.22 at hand: {operator_build.missing_crd_reason('rhoai-2.22')}")
    kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", shipped.body)
    wait_for("the LMEvalJob API", lambda: kube.get_or_none(JOBS) is not None or None, timeout=30)


def _job(base_url: str) -> dict[str, Any]:
    return {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]},
                     "modelArgs": [{"name": "model", "value": "granite"}, {"name": "base_url", "value": base_url}]}}


def _pod_of(job: dict[str, Any]) -> dict[str, Any]:
    """The operator's pod for `job`: named after it, controlled by it, held terminating by a finalizer."""
    owner = {"apiVersion": job["apiVersion"], "kind": "LMEvalJob", "name": NAME, "uid": job["metadata"]["uid"],
             "controller": True}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": NAME, "namespace": NS, "ownerReferences": [owner], "finalizers": [HOLD]},
            "spec": {"containers": [{"name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest"}]}}


def test_replace_creates_the_corrected_job_after_the_old_pod_is_gone(new_controlplane: Any) -> None:
    kube = Kube.connect(str(new_controlplane.kubeconfig))
    _install_lmevaljob_crd(kube)
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
    old = kube.create(JOBS, _job("http://granite:8080/v1"))
    kube.create(resource_path("", "v1", "pods", NS), _pod_of(old))
    kube.delete(POD)  # what the operator does when the job goes; the finalizer keeps it terminating

    fixed = _job("http://granite:8080/v1/completions")
    plan = JobPlan(NAME, NS, original=old, fixed=fixed)
    run = FixRun(jobs=[JobFix(plan, NAME, findings=[])], poll_interval=POLL)
    said: list[str] = []
    errors: list[BaseException] = []

    def replace() -> None:
        try:
            create_fixed_jobs(kube, run, replace=True, say=said.append)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    worker = threading.Thread(target=replace, daemon=True)
    worker.start()
    wait_for("the old job to be deleted", lambda: kube.get_or_none(f"{JOBS}/{NAME}") is None, timeout=30, every=0.1)
    gone = time.monotonic()
    time.sleep(1.5)  # several of the fix's 0.5 s polls: it must still wait for the terminating pod
    assert kube.get_or_none(f"{JOBS}/{NAME}") is None and worker.is_alive(), (
        "the corrected job was created while the replaced job's pod still terminated")

    kube.merge_patch(POD, {"metadata": {"finalizers": None}})
    # The pod is gone; the operator's pending check of the old job (one poll interval at most) must fire
    # before the name is used again: not before `gone` + POLL (+1 s), measured from the fix's own sighting.
    time.sleep(max(0.0, gone + POLL + 0.3 - time.monotonic()))
    assert kube.get_or_none(f"{JOBS}/{NAME}") is None and worker.is_alive(), (
        "the corrected job was created within the operator's pod-checking interval of the old job's deletion")
    worker.join(timeout=30)
    assert not worker.is_alive() and not errors, errors
    created = kube.get(f"{JOBS}/{NAME}")
    assert created["metadata"]["uid"] != old["metadata"]["uid"]
    assert created["spec"]["modelArgs"][1]["value"].endswith("/v1/completions")
    assert said and said[0].startswith("waiting ") and said[-1].startswith(f"created LMEvalJob {NS}/{NAME}")


@pytest.mark.parametrize(("data", "seconds"), [({"lmes-pod-checking-interval": "3s"}, 3.0),
                                               ({"lmes-pod-checking-interval": "1m30s"}, 90.0),
                                               ({"lmes-pod-checking-interval": "often"}, 10.0), ({}, 10.0)])
def test_the_poll_interval_is_the_operator_configmaps(data: dict[str, str], seconds: float) -> None:
    from types import SimpleNamespace

    from lmeval_setup.platform.lost_poll import operator_poll_interval

    assert operator_poll_interval(SimpleNamespace(operator_config={"data": data})) == seconds
    assert operator_poll_interval(None) == 10.0
