"""The doctor reads the TrustyAI manager's log beside the failed jobs' own logs, not after them: a log read
is the slowest request (served through the pod's kubelet), and two of them one after the other doubled
that wait in a cold `doctor -n`. A fake cluster holds every log read HELD_S and records when each ran."""

from __future__ import annotations

import threading
import time
from typing import Any

from lmeval_setup.doctor.collect import JobLayer
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.kube.readpool import Future
from lmeval_setup.platform import releases as R

NS, APPS = "team", "redhat-ods-applications"
HELD_S = 0.3
OPERATOR_POD = "trustyai-operator-abc"
SELECTOR = {"control-plane": "trustyai-service-operator"}


class FakeKube:
    """What JobLayer asks of a cluster: lists (the failed job's pod) and pod logs, each log held HELD_S."""

    def __init__(self) -> None:
        self.log_reads: dict[str, tuple[float, float]] = {}  # pod -> (started, ended)
        self._lock = threading.Lock()

    def list_items(self, path: str, page_size: int = 500, **query: Any) -> list[dict[str, Any]]:
        if path == f"/api/v1/namespaces/{NS}/pods":
            return [{"metadata": {"name": "failed", "namespace": NS},
                     "status": {"containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": 1}}}]}}]
        return []

    def pod_log(self, ns: str, pod: str, container: str, **_: Any) -> str:
        started = time.monotonic()
        time.sleep(HELD_S)
        with self._lock:
            self.log_reads[pod] = (started, time.monotonic())
        return f"{container} log of {pod}\n"


def _snapshot_with_the_operator() -> Snapshot:
    """What the cluster layer records: the operator Deployment and its pod."""
    snapshot = Snapshot(scope={"namespace": NS})
    snapshot.add("apps", "deployments", {"apiVersion": "apps/v1", "kind": "Deployment",
                                         "metadata": {"name": R.OPERATOR_DEPLOYMENT, "namespace": APPS},
                                         "spec": {"selector": {"matchLabels": SELECTOR}}})
    snapshot.add("", "pods", {"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": OPERATOR_POD, "namespace": APPS, "labels": SELECTOR}})
    return snapshot


def test_the_operator_log_is_read_beside_the_jobs_logs() -> None:
    kube = FakeKube()
    snapshot = _snapshot_with_the_operator()
    # Failed with a message that names no cause: its log and the manager's log are both wanted.
    job = {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
           "metadata": {"name": "failed", "namespace": NS},
           "status": {"state": "Complete", "reason": "Failed", "message": "exit status 1", "podName": "failed"}}
    cluster_layer: Future[None] = Future()
    cluster_layer.set_result(None)
    with JobLayer(kube, snapshot, threading.Lock()) as layer:  # type: ignore[arg-type]
        layer.read_operator_log([job], cluster_layer)
        layer.finish([job])
    assert set(kube.log_reads) == {"failed", OPERATOR_POD}
    assert (NS, "failed", "main") in snapshot.logs and (APPS, OPERATOR_POD, R.OPERATOR_CONTAINER) in snapshot.logs
    job_log, operator_log = kube.log_reads["failed"], kube.log_reads[OPERATOR_POD]
    assert operator_log[0] < job_log[1] and job_log[0] < operator_log[1], "the two log reads did not overlap"


def test_the_operator_log_waits_for_the_cluster_layer_and_is_skipped_when_it_failed() -> None:
    """Which pod is the operator's is the cluster layer's answer: without it (its read failed, which the
    collection reports) the manager's log is not read."""
    kube = FakeKube()
    snapshot = _snapshot_with_the_operator()
    job = {"metadata": {"name": "failed", "namespace": NS},
           "status": {"state": "Complete", "reason": "Failed", "message": "exit status 1", "podName": "failed"}}
    cluster_layer: Future[None] = Future()
    with JobLayer(kube, snapshot, threading.Lock()) as layer:  # type: ignore[arg-type]
        layer.read_operator_log([job], cluster_layer)
        time.sleep(0.1)
        assert OPERATOR_POD not in kube.log_reads
        cluster_layer.set_exception(RuntimeError("the cluster layer failed"))
        layer.finish([job])
    assert OPERATOR_POD not in kube.log_reads and "failed" in kube.log_reads
