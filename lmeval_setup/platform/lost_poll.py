"""Upstream's lost status poll, met while `doctor --fix --wait` follows the jobs it created.

Every line's controller (controllers/lmes/lmevaljob_controller.go; seen here on rhoai-2.22 and rhoai-3.5): a
reconcile that reads a job before its own Scheduled status reached the manager's cache (3.5 writes a job twice
while scheduling it, so its own event queues that reconcile; more often under load) runs handleNewCR again,
fails with AlreadyExists on the pod it has just created, and its status write conflicts. The error requeue
replaces the pending status poll in the work queue, and syncedMap4Reconciler refuses to re-arm it within
lmes-pod-checking-interval; pods are watched only for deletion. The job stays Scheduled or Running, its pod
running or done, until the manager's resync (10 h).

What a user does about it: touch the job (a metadata change queues a reconcile, which polls its pod). Only a job
whose own pod exists and whose AlreadyExists the manager's log shows is touched, at most once per interval; its
outcome is still the operator's. Without the rights to read that log or to patch the job, nothing is done.
`doctor --fix --wait` and `provision --wait` both recover so (`for_operator`, `touched_line`).

The manager's log is read while jobs run (every 2 s in `doctor --fix --wait`): its tail once, then only what it
wrote since the read before (`OperatorLog`), and the jobs it showed lost are remembered, not read again. A busy
manager's tail may have moved past a line by the time its job is quiet; a re-read of the whole tail each round
was up to 1 MiB every 2 s for as long as an evaluation ran.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from lmeval_setup.errors import UsageError
from lmeval_setup.kube.client import ApiError, Kube, parse_duration, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.operator_state import selector_string

JSON = dict[str, Any]
LOST_POLL_LINE = "Failed to create pod for the LMEvalJob"
REPOLL_ANNOTATION = "lmeval-setup.opendatahub.io/repoll"
# Past the default 10 s lmes-pod-checking-interval, so the reconcile a touch causes may re-arm the poll.
REPOLL_EVERY = 12.0
POLL_INTERVAL_KEY = "lmes-pod-checking-interval"
DEFAULT_POLL_SECONDS = 10.0  # the operator's DefaultPodCheckingInterval
# What each read of the manager's log may hold: the first read's tail, and any later read's bound too.
LOG_TAIL_LINES = 2000
LOG_LIMIT_BYTES = 1 << 20
# A later read asks for the seconds since the read before, rounded up, and this many more: sinceSeconds counts
# whole seconds of the kubelet's clock, and a line written while the read before was answered is read again
# rather than missed (a line read twice changes nothing: the jobs it names are a set).
LOG_OVERLAP_SECONDS = 2
# The manager's error names the job by its reconcile's object reference (a KRef: name, then namespace).
_LOST_REF = re.compile(r'"name":"(?P<name>[^"]*)","namespace":"(?P<namespace>[^"]*)"')


def operator_poll_interval(facts: Any) -> float:
    """The operator ConfigMap's lmes-pod-checking-interval in seconds; the operator's default without one."""
    data = ((getattr(facts, "operator_config", None) or {}).get("data") or {})
    try:
        return parse_duration(str(data[POLL_INTERVAL_KEY])) or DEFAULT_POLL_SECONDS
    except (KeyError, UsageError):  # absent or not a duration: the operator uses its default too
        return DEFAULT_POLL_SECONDS


class LostPollRecovery:
    """Touch a job the operator provably stopped polling. `manager_log` returns the manager's log lines."""

    @classmethod
    def for_operator(cls, kube: Kube, namespace: str | None, poll_interval: float) -> LostPollRecovery | None:
        """Reading the manager's log in the operator's namespace, touching at most once per the operator's
        lmes-pod-checking-interval + 2 s; None when that namespace is not known (no OpenShift AI found)."""
        if not namespace:
            return None
        return cls(kube, OperatorLog(kube, namespace), every=max(REPOLL_EVERY, poll_interval + 2.0))

    def __init__(self, kube: Kube, manager_log: Callable[[], Iterable[str]], every: float = REPOLL_EVERY) -> None:
        """`manager_log` returns the manager's log lines: all of its tail, or (OperatorLog) those new since its
        call before; a job shown lost in any of them stays known as lost."""
        self.kube = kube
        self.manager_log = manager_log
        self.every = every
        self.last: dict[tuple[str, str], float] = {}
        self.lost: set[tuple[str, str]] = set()  # (namespace, name) of every job the log has shown lost so far
        self.nudged: list[str] = []

    def nudge(self, pending: list[JSON]) -> list[str]:
        """Touch every pending job lost so (at most once per `every` seconds each); the ones touched now."""
        candidates = [job for job in pending if self._polled_with_its_pod(job)]
        if not candidates:
            return []
        self.lost |= lost_jobs(self.manager_log())  # read once per round, not once per job
        touched = []
        for job in candidates:
            key = (job["metadata"]["namespace"], job["metadata"]["name"])
            if key not in self.lost or time.monotonic() - self.last.get(key, 0.0) < self.every:
                continue
            self.last[key] = time.monotonic()
            count = self.nudged.count("/".join(key)) + 1
            path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", key[0], key[1])
            try:
                self.kube.merge_patch(path, {"metadata": {"annotations": {REPOLL_ANNOTATION: str(count)}}})
            except ApiError as exc:
                if exc.status not in (403, 404):  # not ours to touch, or gone: the wait goes on
                    raise
                continue
            self.nudged.append("/".join(key))
            touched.append("/".join(key))
        return touched

    def _polled_with_its_pod(self, job: JSON) -> bool:
        """Scheduled or Running, and its own pod exists (the state the lost poll leaves a job in)."""
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        if (job.get("status") or {}).get("state") not in ("Scheduled", "Running"):
            return False
        try:
            pod = self.kube.get_or_none(resource_path("", "v1", "pods", namespace, name))
        except ApiError as exc:
            if exc.status == 403:
                return False
            raise
        owners = (pod or {}).get("metadata", {}).get("ownerReferences") or []
        return any(o.get("uid") == job["metadata"]["uid"] for o in owners)


def touched_line(job: str) -> str:
    """What a wait says when it touched `job` (namespace/name)."""
    return (f"LMEvalJob {job}: the operator stopped polling it (its log: \"{LOST_POLL_LINE} ... already exists\", "
            f"an upstream race); touched it ({REPOLL_ANNOTATION}) so that it is checked again")


def lost_jobs(log: Iterable[str]) -> set[tuple[str, str]]:
    """(namespace, name) of each job the manager's AlreadyExists error names. The error names the job by its
    reconcile's object reference, {"name":...,"namespace":...}: a job of the same name in another namespace is
    not that one."""
    found = set()
    for line in log:
        if LOST_POLL_LINE in line and "already exists" in line and (ref := _LOST_REF.search(line)):
            found.add((ref["namespace"], ref["name"]))
    return found


class OperatorLog:
    """The manager log of the operator's pods in a namespace, read incrementally: each call returns the lines
    written since the call before (the first: the tail), so a wait that asks every few seconds reads each line
    about once."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.read_at: float | None = None  # time.monotonic() when the read before began

    def __call__(self) -> list[str]:
        began = time.monotonic()
        since = None if self.read_at is None else math.ceil(began - self.read_at) + LOG_OVERLAP_SECONDS
        lines = operator_log_lines(self.kube, self.namespace, since_seconds=since)
        self.read_at = began
        return lines


def operator_log_lines(kube: Kube, namespace: str, tail_lines: int = LOG_TAIL_LINES,
                       since_seconds: int | None = None) -> list[str]:
    """The manager log of the operator's pods in `namespace` (by its Deployment's selector): the last
    `tail_lines` (at most 1 MiB per pod), of the last `since_seconds` when given; [] when not allowed."""
    try:
        selector = selector_string(
            kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT)))
        if not selector:
            return []
        lines: list[str] = []
        for pod in kube.list_items(resource_path("", "v1", "pods", namespace), labelSelector=selector):
            text = kube.pod_log(namespace, pod["metadata"]["name"], R.OPERATOR_CONTAINER, tail_lines=tail_lines,
                                limit_bytes=LOG_LIMIT_BYTES, since_seconds=since_seconds)
            lines += text.splitlines()
        return lines
    except ApiError as exc:
        if exc.status in (400, 403, 404):  # no rights on the operator's namespace, or its pod not started
            return []
        raise
