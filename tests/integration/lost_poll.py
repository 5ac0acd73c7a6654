"""Upstream's lost status poll, and what a user does about it: touch the job.

Every line's controllers/lmes/lmevaljob_controller.go (seen here on rhoai-2.22 and rhoai-3.5): a reconcile that
reads a job before its own Scheduled status reached the manager's cache (3.5 writes the job twice while
scheduling it, so its own event queues that reconcile; more often under load, and with many jobs created at
once) runs handleNewCR again, fails with AlreadyExists on the pod it has just created, and its status write
conflicts. The error requeue (5 ms) replaces the pending 10 s poll in the workqueue, and syncedMap4Reconciler
refuses to re-arm it until those 10 s pass; pods are watched only for deletion, so the job stays Scheduled, its
pod running, until the next resync (10 h). 1 job in 30 at load 30 here.

    repoll = LostPollRecovery(kube, OperatorLog(kube, sandbox.namespace))  # or the kubelet's record of it
    ... in a wait loop: repoll.nudge(jobs_not_done_yet)

Only a job the manager's log proves lost so is touched (an annotation: a real reconcile follows); its outcome is
still the real controller's. Any other stall is left alone, for the wait to report. The recovery and the reader of
the manager's log are the product's own (lmeval_setup/platform/lost_poll.py: `doctor --fix --wait` does the same);
this module adds the tests' wait for every job of a namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lost_poll import (
    LOST_POLL_LINE,
    REPOLL_ANNOTATION,
    LostPollRecovery,
    OperatorLog,
    operator_log_lines,
)

__all__ = ["LOST_POLL_LINE", "REPOLL_ANNOTATION", "LostPollRecovery", "OperatorLog", "manager_log",
           "wait_all_complete"]


def manager_log(kube: Kube, namespace: str) -> str:
    """The real manager's log through the API, as the product reads it (the operator's pods in `namespace`)."""
    return "\n".join(operator_log_lines(kube, namespace))


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
