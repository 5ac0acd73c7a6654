"""`provision --wait` and upstream's lost status poll (lmeval_setup/platform/lost_poll.py), on an in-memory cluster.

A job the real controller stops polling stays Scheduled, its pod waiting for a shutdown that never comes, until the
manager's 10 h resync: a CI run's `provision --wait` timed out (exit 5) where `doctor --fix --wait` recovered. The
wait now offers a job that stayed unchanged for a whole interval to the same recovery, and says so on stderr.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from results_samples import completed_job, results_document

from lmeval_setup.errors import WaitTimeout
from lmeval_setup.kube.client import ApiError
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION, LostPollRecovery
from lmeval_setup.provision import run as P
from lmeval_setup.provision.objects import ProvisionSpec
from lmeval_setup.provision.wait import wait_for_job

NS = "lmeval-ci"
JOB = "ci-eval"
OPERATOR_NS = "redhat-ods-applications"
LOST = (f'ERROR\t{LOST_POLL_LINE}\t{{"LMEvalJob": {{"name":"{JOB}","namespace":"{NS}"}}, '
        f'"error": "pods \\"{JOB}\\" already exists"}}')


class Cluster:
    """One LMEvalJob that the operator stopped polling, its pod, the operator's Deployment, pod and log."""

    def __init__(self, *, log: list[str], progress: bool = False, may_patch: bool = True) -> None:
        done = completed_job(JOB, NS, results_document("granite", 0.71, 0.52))
        self.done_status = done["status"]
        self.job: dict[str, Any] = {**done, "metadata": {"name": JOB, "namespace": NS, "uid": "u-1",
                                                           "resourceVersion": "10"},
                                    "status": {"state": "Scheduled", "reason": "NoReason"}}
        self.log, self.progress, self.may_patch = log, progress, may_patch
        self.log_reads = 0
        self.patches: list[Any] = []

    def _bump(self) -> None:
        self.job["metadata"]["resourceVersion"] = str(int(self.job["metadata"]["resourceVersion"]) + 1)

    def get_or_none(self, path: str) -> Any:
        if path.endswith(f"/namespaces/{NS}/lmevaljobs/{JOB}"):
            return copy.deepcopy(self.job)
        if path.endswith(f"/namespaces/{NS}/pods/{JOB}"):
            return {"metadata": {"name": JOB, "ownerReferences": [{"kind": "LMEvalJob", "uid": "u-1"}]}}
        if path.endswith(f"/namespaces/{OPERATOR_NS}/deployments/{R.OPERATOR_DEPLOYMENT}"):
            return {"spec": {"selector": {"matchLabels": {"control-plane": "controller-manager"}}}}
        raise AssertionError(path)

    def watch(self, path: str, **query: Any) -> list[Any]:
        """A watch window with no event (the lost poll), or one progress update when the job is alive."""
        if not self.progress:
            return []
        self._bump()
        return [{"type": "MODIFIED", "object": copy.deepcopy(self.job)}]

    def list_items(self, path: str, **query: Any) -> list[Any]:
        assert path.endswith(f"/namespaces/{OPERATOR_NS}/pods"), path
        return [{"metadata": {"name": "manager-abc"}}]

    def pod_log(self, namespace: str, pod: str, container: str, **kw: Any) -> str:
        assert (namespace, pod, container) == (OPERATOR_NS, "manager-abc", R.OPERATOR_CONTAINER)
        self.log_reads += 1
        return "\n".join(self.log)

    def merge_patch(self, path: str, patch: Any) -> Any:
        if not self.may_patch:
            raise ApiError(403, "Forbidden", "lmevaljobs is forbidden")
        assert path.endswith(f"/namespaces/{NS}/lmevaljobs/{JOB}"), path
        self.patches.append(patch)
        self.job["status"] = self.done_status  # the reconcile the touch causes polls the driver
        self._bump()
        return self.job


FACTS = SimpleNamespace(applications_namespace=OPERATOR_NS, operator_config={"data": {}})


def _options() -> P.RunOptions:
    spec = ProvisionSpec(namespace=NS, job_name=JOB, base_url="http://granite/v1/completions", tokenizer="t",
                         tasks=["arc_easy"])
    return P.RunOptions(spec=spec, wait=True, timeout=30.0)


def test_a_job_the_operator_stopped_polling_is_touched_and_provision_reports_its_results() -> None:
    cluster = Cluster(log=["INFO\tunrelated", LOST])
    out: list[str] = []
    err: list[str] = []

    code = P._wait_and_judge(cluster, _options(), P.Printer(out.append, err.append), FACTS)  # type: ignore[arg-type]

    assert code == 0, (out, err)
    assert [p["metadata"]["annotations"] for p in cluster.patches] == [{REPOLL_ANNOTATION: "1"}]
    assert any("arc_easy" in line for line in out), out
    (said,) = [line for line in err if REPOLL_ANNOTATION in line]
    assert said.startswith(f"provision: LMEvalJob {NS}/{JOB}: the operator stopped polling it"), said


def test_a_job_that_moves_is_not_offered_and_the_log_is_not_read() -> None:
    """Progress (a status write per window) is a polled job: no log read, no touch, until the wait's end."""
    cluster = Cluster(log=[LOST], progress=True)
    recovery = LostPollRecovery.for_operator(cluster, OPERATOR_NS, 10.0)  # type: ignore[arg-type]

    with pytest.raises(WaitTimeout):
        wait_for_job(cluster, NS, JOB, timeout=0.2, recovery=recovery)  # type: ignore[arg-type]

    assert cluster.log_reads == 0 and cluster.patches == []


def test_without_the_log_line_or_the_right_to_patch_the_wait_only_waits() -> None:
    for cluster in (Cluster(log=["INFO\tChecking the job state"]), Cluster(log=[LOST], may_patch=False)):
        recovery = LostPollRecovery.for_operator(cluster, OPERATOR_NS, 10.0)  # type: ignore[arg-type]
        with pytest.raises(WaitTimeout):
            wait_for_job(cluster, NS, JOB, timeout=0.2, recovery=recovery)  # type: ignore[arg-type]
        assert cluster.patches == [] and cluster.log_reads >= 1


def test_without_the_operators_namespace_there_is_no_recovery() -> None:
    """No OpenShift AI found (provision with both --allow flags): nothing to read, the wait is as before."""
    assert LostPollRecovery.for_operator(Cluster(log=[LOST]), None, 10.0) is None  # type: ignore[arg-type]
    assert LostPollRecovery.for_operator(Cluster(log=[LOST]), OPERATOR_NS, 30.0).every == 32.0  # type: ignore[arg-type,union-attr]
