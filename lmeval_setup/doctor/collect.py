"""Live collection: read what the doctor needs from a cluster into a Snapshot. Read-only (get/list + pods/log).

Cost does not grow with the number of healthy jobs: one paginated LIST of LMEvalJobs for the scope, then
per namespace that has unhealthy jobs one LIST of pods, one of Warning events and (when a job names a PVC)
one of PVCs; logs only for pods that failed or hang, tail-limited, fetched concurrently with a bound.
The cluster layer is recorded while platform.detect() reads it, so the offline run replays exactly the
same answers. Objects are kept as read, so rules see real values (outputs and --collect files are redacted
by lmeval_setup.redact / sanitize); logs are redacted here, since no rule needs a credential in a log line.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from lmeval_setup.doctor import operator_log as OL
from lmeval_setup.doctor.sanitize import sanitize_log
from lmeval_setup.doctor.snapshot import CLUSTER_UNREADABLE_NOTE, JSON, Snapshot
from lmeval_setup.errors import LmevalError, OpenShiftAIMissing, PrerequisiteError
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.kube.source import KubeSource
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.rules import pods as P
from lmeval_setup.rules import status as S
from lmeval_setup.rules.managed_pvc import managed_pvc_name

LOG_TAIL_LINES = 400
LOG_LIMIT_BYTES = 512 * 1024
LOG_WORKERS = 8
LMEVAL_PLURAL = "lmevaljobs"


@dataclass(frozen=True)
class Scope:
    namespace: str | None = None  # None with all_namespaces
    all_namespaces: bool = False
    job: str | None = None
    jobs: tuple[str, ...] = ()  # doctor --job A --job B; `job` stays for one name

    def job_names(self) -> tuple[str, ...]:
        return self.jobs or ((self.job,) if self.job else ())

    def as_dict(self) -> JSON:
        return {"namespace": self.namespace, "all_namespaces": self.all_namespaces, "job": self.job,
                "jobs": list(self.job_names())}


class RecordingSource:
    """platform.detect's ObjectSource over the live cluster, writing every answer into the Snapshot."""

    def __init__(self, kube: Kube, snapshot: Snapshot) -> None:
        self.live = KubeSource(kube)
        self.snapshot = snapshot

    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        obj = self.live.get(group, version, plural, name, namespace)
        if obj is None:
            self.snapshot.absent.add((group, plural, namespace or "", name))
        else:
            self.snapshot.add(group, plural, obj)
        return obj

    def list(
        self, group: str, version: str, plural: str, namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JSON]:
        items = self.live.list(group, version, plural, namespace, label_selector)
        for item in items:
            self.snapshot.add(group, plural, item)
        if label_selector is None:  # only an unfiltered list proves absence
            self.snapshot.mark_collected(group, plural, namespace if namespace is not None else "")
        return items

    def served_versions(self, group: str) -> list[str]:
        versions = self.live.served_versions(group)
        self.snapshot.served[group] = list(versions)
        return versions


def collect(kube: Kube, scope: Scope) -> Snapshot:
    snapshot = Snapshot(collected_at=S.utcnow(), scope=scope.as_dict())
    _collect_cluster_layer(kube, snapshot)
    jobs = _collect_jobs(kube, snapshot, scope)
    _collect_job_layer(kube, snapshot, jobs)
    # The manager's log, bounded, only when a job's own status cannot say why (doctor/operator_log.py).
    OL.collect_operator_log(snapshot, jobs, lambda ns, pod, c, lines, limit: _fetch_log(kube, ns, pod, c, lines, limit))
    return snapshot


def _collect_cluster_layer(kube: Kube, snapshot: Snapshot) -> None:
    try:
        detect(RecordingSource(kube, snapshot))
    except OpenShiftAIMissing:
        pass  # recorded (no served DSC versions / no DSC): evaluate reports LME110
    except ApiError as exc:
        if exc.status != 403:
            raise
        snapshot.notes.append(f"{CLUSTER_UNREADABLE_NOTE} ({exc}); cluster rules skipped")
    except PrerequisiteError:
        pass  # recorded; evaluate raises the same error from the snapshot and reports it


def _collect_jobs(kube: Kube, snapshot: Snapshot, scope: Scope) -> list[JSON]:
    namespace = None if scope.all_namespaces else scope.namespace
    path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, namespace)
    # A field selector takes one name: one cheap LIST per named job.
    queries = [{"fieldSelector": f"metadata.name={name}"} for name in scope.job_names()] or [{}]
    try:
        jobs = [j for query in queries for j in kube.list_items(path, **query)]
    except ApiError as exc:
        if exc.not_found:  # no LMEvalJob CRD: no jobs (LME110/LME101 explain why)
            jobs = []
        else:
            raise
    if scope.job_names():
        for job in jobs:
            snapshot.add(R.LMEVAL_GROUP, LMEVAL_PLURAL, job)
    else:
        snapshot.add_all(R.LMEVAL_GROUP, LMEVAL_PLURAL, jobs, namespace if namespace is not None else None)
    return jobs


def _needs_attention(job: JSON) -> bool:
    status = S.job_status(job)
    return not (status.get("state") == "Complete" and status.get("reason") == "Succeeded")


def _collect_job_layer(kube: Kube, snapshot: Snapshot, jobs: list[JSON]) -> None:
    unhealthy = [j for j in jobs if _needs_attention(j)]
    namespaces = sorted({str(j["metadata"].get("namespace")) for j in unhealthy})
    for ns in namespaces:
        _list_into(kube, snapshot, "", "v1", "pods", ns)
        _list_into(kube, snapshot, "", "v1", "events", ns, fieldSelector="type=Warning")
        in_ns = [j for j in unhealthy if j["metadata"].get("namespace") == ns]
        if any(S.referenced_pvcs(j) or managed_pvc_name(j) for j in in_ns):  # LME025, LME040
            _list_into(kube, snapshot, "", "v1", "persistentvolumeclaims", ns)
    wanted = list(_logs_wanted(snapshot, unhealthy))
    with ThreadPoolExecutor(max_workers=LOG_WORKERS) as pool:
        for (ns, pod, container), text in zip(wanted, pool.map(lambda key: _fetch_log(kube, *key), wanted),
                                              strict=True):
            if text is None:
                snapshot.notes.append(f"log of {ns}/{pod}/{container} not available")
            else:
                snapshot.logs[(ns, pod, container)] = text


def _list_into(kube: Kube, snapshot: Snapshot, group: str, version: str, plural: str, ns: str,
               **query: str) -> None:
    items = kube.list_items(resource_path(group, version, plural, ns), **query)
    snapshot.add_all(group, plural, items, ns)


def _logs_wanted(snapshot: Snapshot, jobs: Iterable[JSON]) -> Iterable[tuple[str, str, str]]:
    now = snapshot.collected_at or S.utcnow()
    for job in jobs:
        ns = str(job["metadata"].get("namespace"))
        pod_name = str(S.job_status(job).get("podName") or job["metadata"]["name"])
        pod = snapshot.get("", "v1", "pods", pod_name, ns)
        for container in P.needed_logs(pod, job_needs_log(job), job_is_stuck(job, now)):
            yield ns, pod_name, container


def job_needs_log(job: JSON) -> bool:
    """Failed for a reason only the log explains (the status message names no cause)."""
    if not S.is_failed(job):
        return False
    return S.classify_status_message(str(S.job_status(job).get("message") or "")) is None


def job_is_stuck(job: JSON, now: datetime) -> bool:
    """Scheduled for longer than STUCK_AFTER (PR #837: lm-eval may have finished but the job never moved)."""
    status = S.job_status(job)
    if status.get("state") != "Scheduled":
        return False
    since = S.parse_time(status.get("lastScheduleTime"))
    return since is not None and now - since >= S.STUCK_AFTER


def _fetch_log(kube: Kube, ns: str, pod: str, container: str, tail_lines: int = LOG_TAIL_LINES,
               limit_bytes: int = LOG_LIMIT_BYTES) -> str | None:
    try:
        text = kube.pod_log(ns, pod, container, tail_lines=tail_lines, limit_bytes=limit_bytes)
    except (ApiError, LmevalError):
        return None
    return sanitize_log(text)
