"""LostPollRecovery and the waits that use it, against an in-memory cluster (no control plane).

Upstream's lost status poll leaves a job Scheduled, its pod running or done, until the manager's 10 h resync; the
manager's log shows the stale reconcile's AlreadyExists. A fresh-clone run failed test_sandbox_real_lmeval so
(rhoai-3.5), whose wait did not recover. Here a stranded job completes only once it is touched.
"""

from __future__ import annotations

import time
from typing import Any

import fix_support
import pytest
from lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION, LostPollRecovery, OperatorLog

from lmeval_setup.platform import lost_poll as lost_poll_module
from lmeval_setup.platform import releases as R

NS = "private-ai-demo"
OPERATOR_NS = "redhat-ods-applications"
OPERATOR_POD = f"{R.OPERATOR_DEPLOYMENT}-5d9c-abcde"


def lost_line(name: str) -> str:
    return (f'2026-12-07T04:33:13Z\tERROR\t{LOST_POLL_LINE}\t{{"LMEvalJob": {{"name":"{name}","namespace":"{NS}"}}, '
            f'"error": "pods \\"{name}\\" already exists"}}')


class Cluster:
    """LMEvalJobs, their pods, the operator's Deployment and pods, and the manager's log (each pods/log query
    recorded); a touched stranded job is reconciled to Complete."""

    def __init__(self, jobs: dict[str, str], log: list[str], pods: tuple[str, ...] = (),
                 operator_pods: tuple[str, ...] = (OPERATOR_POD,)) -> None:
        self.jobs = {name: {"metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "annotations": {}},
                            "status": {"state": state}} for name, state in jobs.items()}
        self.pods = set(pods or jobs)
        self.operator_pods = operator_pods
        self.log = log
        self.log_queries: list[dict[str, Any]] = []
        self.patches: list[str] = []

    @property
    def log_reads(self) -> int:
        """Reads of the manager's log: one pods/log query per operator pod."""
        return len(self.log_queries) // len(self.operator_pods)

    def list_items(self, path: str, **query: Any) -> list[Any]:
        if path.endswith(f"/namespaces/{OPERATOR_NS}/pods"):
            assert query == {"labelSelector": "control-plane=controller-manager"}, query
            return [{"metadata": {"name": pod}} for pod in self.operator_pods]
        assert path.endswith(f"/namespaces/{NS}/lmevaljobs"), path
        return list(self.jobs.values())

    def get_or_none(self, path: str) -> Any:
        name = path.rsplit("/", 1)[-1]
        if path.endswith(f"/namespaces/{OPERATOR_NS}/deployments/{R.OPERATOR_DEPLOYMENT}"):
            return {"spec": {"selector": {"matchLabels": {"control-plane": "controller-manager"}}}}
        if f"/namespaces/{NS}/pods/" in path and name in self.pods:
            return {"metadata": {"name": name, "ownerReferences": [{"kind": "LMEvalJob", "uid": f"uid-{name}"}]}}
        return None

    def pod_log(self, namespace: str, pod: str, container: str, **query: Any) -> str:
        assert namespace == OPERATOR_NS and pod in self.operator_pods and container == R.OPERATOR_CONTAINER
        self.log_queries.append({"pod": pod, **query})
        return "\n".join(self.log)

    def merge_patch(self, path: str, patch: Any) -> Any:
        name = path.rsplit("/", 1)[-1]
        assert REPOLL_ANNOTATION in patch["metadata"]["annotations"], patch
        self.patches.append(name)
        self.jobs[name]["status"]["state"] = "Complete"  # the reconcile the touch causes polls the driver
        return self.jobs[name]


def test_only_a_job_the_managers_log_shows_lost_is_touched_once_per_interval() -> None:
    cluster = Cluster({"stranded": "Scheduled", "slow": "Running", "done": "Complete"},
                      log=["unrelated", lost_line("stranded")])
    repoll = LostPollRecovery(cluster, OperatorLog(cluster, OPERATOR_NS))  # type: ignore[arg-type]

    pending = [cluster.jobs["stranded"], cluster.jobs["slow"]]
    repoll.nudge(pending)
    cluster.jobs["stranded"]["status"]["state"] = "Scheduled"  # stranded again: not touched within the interval
    repoll.nudge(pending)

    assert cluster.patches == ["stranded"]
    assert repoll.nudged == [f"{NS}/stranded"]
    assert cluster.log_reads == 2, "the log is read once per round, not once per job"


def test_a_job_of_the_same_name_in_another_namespace_is_not_touched() -> None:
    """The log line names the stranded job's namespace too: a namesake elsewhere is not the one to touch."""
    cluster = Cluster({"eval": "Scheduled"}, log=[lost_line("eval").replace(f'"namespace":"{NS}"',
                                                                          '"namespace":"team-b"')])
    repoll = LostPollRecovery(cluster, OperatorLog(cluster, OPERATOR_NS))  # type: ignore[arg-type]

    assert repoll.nudge([cluster.jobs["eval"]]) == [] and cluster.patches == []
    assert cluster.log_reads == 1


def test_a_job_without_its_own_pod_is_not_a_lost_poll_and_the_log_is_not_read() -> None:
    cluster = Cluster({"stranded": "Scheduled"}, log=[lost_line("stranded")], pods=("someone-else",))
    repoll = LostPollRecovery(cluster, OperatorLog(cluster, OPERATOR_NS))  # type: ignore[arg-type]

    repoll.nudge([cluster.jobs["stranded"]])

    assert cluster.patches == [] and cluster.log_reads == 0


def test_the_seed_jobs_wait_recovers_a_stranded_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """fix_support.wait_all_complete (the seed-fix flow's wait) returns once the stranded job is touched."""
    cluster = Cluster({"eval-good": "Complete", "eval-no-online-access": "Scheduled"},
                      log=[lost_line("eval-no-online-access")])
    monkeypatch.setattr(fix_support.time, "sleep", lambda seconds: None)
    start = time.monotonic()

    fix_support.wait_all_complete(cluster, NS, OPERATOR_NS, timeout=5.0)  # type: ignore[arg-type]

    assert cluster.patches == ["eval-no-online-access"]
    assert time.monotonic() - start < 5.0


def test_a_job_the_log_showed_lost_once_is_still_known_when_later_reads_hold_only_new_lines() -> None:
    """The manager's log is read incrementally (OperatorLog): a job whose AlreadyExists only an earlier read
    held, stranded again after its touch, is touched again; the recovery remembers what the log showed."""
    cluster = Cluster({"stranded": "Scheduled"}, log=[lost_line("stranded")])
    reads = iter([[lost_line("stranded")], [], []])  # what a reader of only the new lines returns
    repoll = LostPollRecovery(cluster, lambda: next(reads), every=0.0)  # type: ignore[arg-type]

    assert repoll.nudge([cluster.jobs["stranded"]]) == [f"{NS}/stranded"]
    cluster.jobs["stranded"]["status"]["state"] = "Scheduled"  # the reconcile the touch caused lost it again
    assert repoll.nudge([cluster.jobs["stranded"]]) == [f"{NS}/stranded"]
    assert cluster.patches == ["stranded", "stranded"]


def test_the_operators_log_is_read_whole_once_then_only_since_the_read_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 107.2, 107.9])
    monkeypatch.setattr(lost_poll_module.time, "monotonic", lambda: next(clock))
    second = f"{R.OPERATOR_DEPLOYMENT}-5d9c-fghij"  # mid-rollout: both of the Deployment's pods are read
    cluster = Cluster({}, log=["a manager line"], operator_pods=(OPERATOR_POD, second))
    log = OperatorLog(cluster, OPERATOR_NS)  # type: ignore[arg-type]

    assert log() == ["a manager line", "a manager line"]
    log(), log()

    bounds = {"tail_lines": lost_poll_module.LOG_TAIL_LINES, "limit_bytes": lost_poll_module.LOG_LIMIT_BYTES}
    # Each read asks from when the read before began, rounded up, plus the overlap: 7.2 s -> 8 + 2, 0.7 s -> 1 + 2.
    assert [q["since_seconds"] for q in cluster.log_queries] == [None, None, 10, 10, 3, 3]
    assert all({k: q[k] for k in bounds} == bounds for q in cluster.log_queries), cluster.log_queries


def test_lost_jobs_are_named_by_namespace_and_name_from_the_managers_error_lines() -> None:
    other = lost_line("eval").replace(f'"namespace":"{NS}"', '"namespace":"team-b"')
    unrelated = lost_line("quiet").replace("already exists", "is forbidden")
    assert lost_poll_module.lost_jobs([lost_line("eval"), other, unrelated, "noise"]) == {
        (NS, "eval"), ("team-b", "eval")}
