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
from lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION, LostPollRecovery, manager_log

from lmeval_setup.platform import lost_poll as lost_poll_module
from lmeval_setup.platform import releases as R

NS = "private-ai-demo"
OPERATOR_NS = "redhat-ods-applications"
OPERATOR_POD = f"{R.OPERATOR_DEPLOYMENT}-5d9c-abcde"


def lost_line(name: str) -> str:
    return (f'2026-12-07T04:33:13Z\tERROR\t{LOST_POLL_LINE}\t{{"LMEvalJob": {{"name":"{name}","namespace":"{NS}"}}, '
            f'"error": "pods \\"{name}\\" already exists"}}')


class Cluster:
    """LMEvalJobs, their pods and the manager's log; a touched stranded job is reconciled to Complete."""

    def __init__(self, jobs: dict[str, str], log: list[str], pods: tuple[str, ...] = ()) -> None:
        self.jobs = {name: {"metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "annotations": {}},
                            "status": {"state": state}} for name, state in jobs.items()}
        self.pods = set(pods or jobs)
        self.log = log
        self.log_reads = 0
        self.patches: list[str] = []

    def list_items(self, path: str, **query: Any) -> list[Any]:
        assert path.endswith(f"/namespaces/{NS}/lmevaljobs"), path
        return list(self.jobs.values())

    def get(self, path: str, **query: Any) -> Any:
        assert path == "/api/v1/pods", path
        return {"items": [{"metadata": {"name": OPERATOR_POD, "namespace": OPERATOR_NS,
                                        "generateName": f"{R.OPERATOR_DEPLOYMENT}-5d9c-",
                                        "creationTimestamp": "2026-12-07T04:30:00Z"}}]}

    def get_or_none(self, path: str) -> Any:
        name = path.rsplit("/", 1)[-1]
        if f"/namespaces/{NS}/pods/" in path and name in self.pods:
            return {"metadata": {"name": name, "ownerReferences": [{"kind": "LMEvalJob", "uid": f"uid-{name}"}]}}
        return None

    def pod_log(self, namespace: str, pod: str, container: str, **kw: Any) -> str:
        assert (namespace, pod, container) == (OPERATOR_NS, OPERATOR_POD, R.OPERATOR_CONTAINER)
        self.log_reads += 1
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
    repoll = LostPollRecovery(cluster, lambda: manager_log(cluster).splitlines())  # type: ignore[arg-type]

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
    repoll = LostPollRecovery(cluster, lambda: manager_log(cluster).splitlines())  # type: ignore[arg-type]

    assert repoll.nudge([cluster.jobs["eval"]]) == [] and cluster.patches == []
    assert cluster.log_reads == 1


def test_a_job_without_its_own_pod_is_not_a_lost_poll_and_the_log_is_not_read() -> None:
    cluster = Cluster({"stranded": "Scheduled"}, log=[lost_line("stranded")], pods=("someone-else",))
    repoll = LostPollRecovery(cluster, lambda: manager_log(cluster).splitlines())  # type: ignore[arg-type]

    repoll.nudge([cluster.jobs["stranded"]])

    assert cluster.patches == [] and cluster.log_reads == 0


def test_the_seed_jobs_wait_recovers_a_stranded_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """fix_support.wait_all_complete (the seed-fix flow's wait) returns once the stranded job is touched."""
    cluster = Cluster({"eval-good": "Complete", "eval-no-online-access": "Scheduled"},
                      log=[lost_line("eval-no-online-access")])
    monkeypatch.setattr(fix_support.time, "sleep", lambda seconds: None)
    start = time.monotonic()

    fix_support.wait_all_complete(cluster, NS, timeout=5.0)  # type: ignore[arg-type]

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


class OperatorNamespace:
    """The operator's Deployment and pods, and each pods/log query made (in-memory)."""

    def __init__(self, pods: tuple[str, ...]) -> None:
        self.pods = pods
        self.queries: list[dict[str, Any]] = []

    def get_or_none(self, path: str) -> Any:
        assert path.endswith(f"/namespaces/{OPERATOR_NS}/deployments/{R.OPERATOR_DEPLOYMENT}"), path
        return {"spec": {"selector": {"matchLabels": {"control-plane": "controller-manager"}}}}

    def list_items(self, path: str, **query: Any) -> list[Any]:
        assert path.endswith(f"/namespaces/{OPERATOR_NS}/pods") and query == {
            "labelSelector": "control-plane=controller-manager"}, (path, query)
        return [{"metadata": {"name": pod}} for pod in self.pods]

    def pod_log(self, namespace: str, pod: str, container: str, **query: Any) -> str:
        self.queries.append({"pod": pod, **query})
        return f"a line of {pod}\n"


def test_the_operators_log_is_read_whole_once_then_only_since_the_read_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 107.2, 107.9])
    monkeypatch.setattr(lost_poll_module.time, "monotonic", lambda: next(clock))
    cluster = OperatorNamespace(pods=(OPERATOR_POD, f"{R.OPERATOR_DEPLOYMENT}-5d9c-fghij"))
    log = lost_poll_module.OperatorLog(cluster, OPERATOR_NS)  # type: ignore[arg-type]

    assert log() == [f"a line of {OPERATOR_POD}", f"a line of {R.OPERATOR_DEPLOYMENT}-5d9c-fghij"]
    log(), log()

    bounds = {"tail_lines": lost_poll_module.LOG_TAIL_LINES, "limit_bytes": lost_poll_module.LOG_LIMIT_BYTES}
    # Each read asks from when the read before began, rounded up, plus the overlap: 7.2 s -> 8 + 2, 0.7 s -> 1 + 2.
    assert [q["since_seconds"] for q in cluster.queries] == [None, None, 10, 10, 3, 3]
    assert all({k: q[k] for k in bounds} == bounds for q in cluster.queries), cluster.queries


def test_lost_jobs_are_named_by_namespace_and_name_from_the_managers_error_lines() -> None:
    other = lost_line("eval").replace(f'"namespace":"{NS}"', '"namespace":"team-b"')
    unrelated = lost_line("quiet").replace("already exists", "is forbidden")
    assert lost_poll_module.lost_jobs([lost_line("eval"), other, unrelated, "noise"]) == {
        (NS, "eval"), ("team-b", "eval")}
