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
still the real controller's. Any other stall is left alone, for the wait to report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

JSON = dict[str, Any]
LOST_POLL_LINE = "Failed to create pod for the LMEvalJob"
REPOLL_ANNOTATION = "sandbox.lmeval-setup.io/repoll"
REPOLL_EVERY = 12.0  # past the 10 s lmes-pod-checking-interval, so the reconcile it causes re-arms the poll


class LostPollRecovery:
    """Touch a job the real controller provably stopped polling: its own pod exists and the manager logged the
    AlreadyExists of a stale re-run for it. `manager_log` returns the manager's log lines."""

    def __init__(self, kube: Kube, manager_log: Callable[[], Iterable[str]]) -> None:
        self.kube = kube
        self.manager_log = manager_log
        self.last: dict[tuple[str, str], float] = {}
        self.nudged: list[str] = []

    def nudge(self, pending: list[JSON]) -> None:
        candidates = [job for job in pending if self._polled_with_its_pod(job)]
        if not candidates:
            return
        log = list(self.manager_log())  # read once per round, not once per job
        for job in candidates:
            if not self._logged_lost(job["metadata"]["name"], log):
                continue
            key = (job["metadata"]["namespace"], job["metadata"]["name"])
            if time.monotonic() - self.last.get(key, 0.0) < REPOLL_EVERY:
                continue
            self.last[key] = time.monotonic()
            self.nudged.append("/".join(key))
            path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", key[0], key[1])
            self.kube.merge_patch(path, {"metadata": {"annotations": {
                REPOLL_ANNOTATION: str(self.nudged.count("/".join(key)))}}})

    def _polled_with_its_pod(self, job: JSON) -> bool:
        """Scheduled or Running, and its own pod exists (the state the lost poll leaves a job in)."""
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        if (job.get("status") or {}).get("state") not in ("Scheduled", "Running"):
            return False
        pod = self.kube.get_or_none(resource_path("", "v1", "pods", namespace, name))
        owners = (pod or {}).get("metadata", {}).get("ownerReferences") or []
        return any(o.get("uid") == job["metadata"]["uid"] for o in owners)

    @staticmethod
    def _logged_lost(name: str, log: list[str]) -> bool:
        return any(LOST_POLL_LINE in line and f'"name":"{name}"' in line and "already exists" in line for line in log)


def manager_log(kube: Kube) -> str:
    """The real manager's log through the API (the newest operator pod's, in any namespace; its last 2,000 lines)."""
    pods = [p for p in kube.get(resource_path("", "v1", "pods")).get("items", [])
            if str(p["metadata"].get("generateName", "")).startswith(f"{R.OPERATOR_DEPLOYMENT}-")]
    if not pods:
        return ""
    meta = max(pods, key=lambda p: p["metadata"]["creationTimestamp"])["metadata"]
    return kube.pod_log(meta["namespace"], meta["name"], R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
