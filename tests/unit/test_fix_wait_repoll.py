"""`doctor --fix --wait` and upstream's lost status poll (lmeval_setup/platform/lost_poll.py), on an in-memory cluster.

The fixed job can be stranded Scheduled with its pod done by the real controller's lost poll; the wait used to
run into its timeout (exit 5). It now touches the job once the operator's log proves it, and says so; without
the right to patch the job it waits as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from lmeval_setup.errors import WaitTimeout
from lmeval_setup.fix import remediate as F
from lmeval_setup.fix.engine import JobPlan
from lmeval_setup.kube.client import ApiError
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION

NS = "team-a"
OPERATOR_NS = "redhat-ods-applications"
LABELS = {"control-plane": "controller-manager"}


class Cluster:
    def __init__(self, *, logged: bool, may_patch: bool = True) -> None:
        self.job = {"metadata": {"name": "eval-fix", "namespace": NS, "uid": "u-1"}, "status": {"state": "Scheduled"}}
        self.log = [f'ERROR\t{LOST_POLL_LINE}\t{{"name":"eval-fix","namespace":"{NS}", "error": '
                    '"pods \\"eval-fix\\" already exists"}'] if logged else ["INFO\tChecking the job state"]
        self.may_patch = may_patch
        self.patches: list[Any] = []

    def get(self, path: str, **query: Any) -> Any:
        assert path.endswith(f"/namespaces/{NS}/lmevaljobs/eval-fix"), path
        return self.job

    def get_or_none(self, path: str) -> Any:
        if path.endswith(f"/namespaces/{NS}/pods/eval-fix"):
            return {"metadata": {"name": "eval-fix", "ownerReferences": [{"kind": "LMEvalJob", "uid": "u-1"}]}}
        if path.endswith(f"/namespaces/{OPERATOR_NS}/deployments/{R.OPERATOR_DEPLOYMENT}"):
            return {"spec": {"selector": {"matchLabels": LABELS}}}
        return None

    def list_items(self, path: str, **query: Any) -> list[Any]:
        assert path.endswith(f"/namespaces/{OPERATOR_NS}/pods") and query == {"labelSelector": "control-plane="
                                                                                  "controller-manager"}, path
        return [{"metadata": {"name": "manager-abc"}}]

    def pod_log(self, namespace: str, pod: str, container: str, **kw: Any) -> str:
        assert (namespace, pod, container) == (OPERATOR_NS, "manager-abc", R.OPERATOR_CONTAINER)
        return "\n".join(self.log)

    def merge_patch(self, path: str, patch: Any) -> Any:
        if not self.may_patch:
            raise ApiError(403, "Forbidden", "lmevaljobs is forbidden")
        self.patches.append(patch)
        self.job["status"] = {"state": "Complete", "reason": "Succeeded"}  # the reconcile the touch causes
        return self.job


def run_for(cluster: Cluster) -> F.FixRun:
    plan = JobPlan("eval", NS, original={"spec": {"limit": "1"}}, fixed={"spec": {"limit": "2"}})
    return F.FixRun([F.JobFix(plan, "eval-fix", findings=[])], poll_interval=10.0, operator_namespace=OPERATOR_NS)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(F, "_doctor_on", lambda kube, job: [])


def test_a_job_the_operators_log_shows_lost_is_touched_and_then_completes() -> None:
    cluster, said = Cluster(logged=True), []
    run = run_for(cluster)

    F.wait_for_jobs(cluster, run, timeout=5.0, say=said.append)  # type: ignore[arg-type]

    assert cluster.patches == [{"metadata": {"annotations": {REPOLL_ANNOTATION: "1"}}}]
    assert run.jobs[0].outcome == "Succeeded"
    assert any("stopped polling it" in line and REPOLL_ANNOTATION in line for line in said), said


def test_a_job_merely_slow_is_left_alone() -> None:
    cluster = Cluster(logged=False)
    with pytest.raises(WaitTimeout):
        F.wait_for_jobs(cluster, run_for(cluster), timeout=0.05, say=lambda line: None)  # type: ignore[arg-type]
    assert cluster.patches == []


def test_without_the_right_to_patch_the_job_the_wait_goes_on_to_its_timeout() -> None:
    cluster = Cluster(logged=True, may_patch=False)
    with pytest.raises(WaitTimeout):
        F.wait_for_jobs(cluster, run_for(cluster), timeout=0.05, say=lambda line: None)  # type: ignore[arg-type]
