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
