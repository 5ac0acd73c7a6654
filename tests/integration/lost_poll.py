"""Upstream's lost status poll, and what a user does about it: touch the job.

Every line's controllers/lmes/lmevaljob_controller.go (seen here on rhoai-2.22 and rhoai-3.5): a reconcile that
reads a job before its own Scheduled status reached the manager's cache (3.5 writes the job twice while
scheduling it, so its own event queues that reconcile; more often under load, and with many jobs created at
once) runs handleNewCR again, fails with AlreadyExists on the pod it has just created, and its status write
conflicts. The error requeue (5 ms) replaces the pending 10 s poll in the workqueue, and syncedMap4Reconciler
refuses to re-arm it until those 10 s pass; pods are watched only for deletion, so the job stays Scheduled, its
pod running, until the next resync (10 h). 1 job in 30 at load 30 here.

    repoll = LostPollRecovery(kube, lambda: manager_log(kube).splitlines())  # or the kubelet's record of it
    ... in a wait loop: repoll.nudge(jobs_not_done_yet)

Only a job the manager's log proves lost so is touched (an annotation: a real reconcile follows); its outcome is
still the real controller's. Any other stall is left alone, for the wait to report. The recovery is the
product's own (lmeval_setup/platform/lost_poll.py: `doctor --fix --wait` does the same); this module adds the tests'
way to read the manager's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION, LostPollRecovery

__all__ = ["LOST_POLL_LINE", "REPOLL_ANNOTATION", "LostPollRecovery", "manager_log", "wait_all_complete"]


def manager_log(kube: Kube) -> str:
    """The real manager's log through the API (the newest operator pod's, in any namespace; its last 2,000 lines)."""
    pods = [p for p in kube.get(resource_path("", "v1", "pods")).get("items", [])
            if str(p["metadata"].get("generateName", "")).startswith(f"{R.OPERATOR_DEPLOYMENT}-")]
    if not pods:
        return ""
    meta = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])["metadata"]
    return kube.pod_log(meta["namespace"], meta["name"], R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)


def wait_all_complete(kube: Kube, namespace: str, manager_log_lines: Callable[[], Iterable[str]], *,
                      timeout: float, every: float = 1.0, progress: Callable[[], str] = str) -> list[dict[str, Any]]:
    """Every LMEvalJob in `namespace` once all are Complete; a job the lost poll strands is touched meanwhile.
    A timeout is an AssertionError naming each job's state, the jobs touched and `progress()`."""
    repoll = LostPollRecovery(kube, manager_log_lines)
    path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace)
    deadline = time.monotonic() + timeout
    while True:
        jobs = list(kube.list_items(path))
        pending = [j for j in jobs if (j.get("status") or {}).get("state") != "Complete"]
        if jobs and not pending:
            return jobs
        if time.monotonic() > deadline:
            states = [(j["metadata"]["name"], (j.get("status") or {}).get("state")) for j in jobs]
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for every job in {namespace} to be "
                                 f"Complete: {states} (re-polled: {repoll.nudged}){progress()}")
        repoll.nudge(pending)
        time.sleep(every)
