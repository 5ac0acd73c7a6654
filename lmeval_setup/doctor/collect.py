"""Live collection: read what the doctor needs from a cluster into a Snapshot. Read-only (get/list + pods/log).

Cost does not grow with the number of healthy jobs: one paginated LIST of LMEvalJobs for the scope, then
per namespace that has unhealthy jobs one LIST of pods, one of Warning events and (when a job names a PVC)
one of PVCs; logs only for pods that failed or hang, tail-limited, fetched concurrently with a bound.
The cluster layer is recorded while platform.detect() reads it, so the offline run replays exactly the
same answers. Objects are kept as read, so rules see real values (outputs and --collect files are
redacted by lmeval_setup.redact / sanitize); logs are redacted here, since no rule needs a credential in a
log line.

Round trips, not bytes, are what a remote cluster charges for (20-80 ms each), so independent reads run
at the same time on the client's one keep-alive pool: the cluster layer (detect's prefetched rounds) on
one thread while this one reads the jobs, their namespaces' lists and their logs; a -n run waits for about
five round trips after the TLS handshake instead of twenty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass
from datetime import datetime

from lmeval_setup.doctor import operator_log as OL
from lmeval_setup.doctor.sanitize import sanitize_log
from lmeval_setup.doctor.snapshot import CLUSTER_UNREADABLE_NOTE, JSON, Snapshot
from lmeval_setup.errors import LmevalError, OpenShiftAIMissing, PrerequisiteError
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.kube.source import KubeSource, Read
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.rules import lifecycle as LC
from lmeval_setup.rules import pods as P
from lmeval_setup.rules import status as S
from lmeval_setup.rules.managed_pvc import managed_pvc_name

LOG_TAIL_LINES = 400
LOG_LIMIT_BYTES = 512 * 1024
LOG_WORKERS = 8
# Objects per LIST page (limit/continue): bounds the bytes of one response, whatever the cluster holds.
LIST_PAGE_SIZE = 500
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# detect()'s widest prefetch round is 4 reads; one more thread reads the jobs side meanwhile.
CLUSTER_READ_WORKERS = 4
LMEVAL_PLURAL = "lmevaljobs"


@dataclass(frozen=True)
class Scope:
    namespace: str | None = None  # None with all_namespaces
    all_namespaces: bool = False
    _: KW_ONLY
    job: str | None = None
    jobs: tuple[str, ...] = ()  # doctor --job A --job B; `job` stays for one name

    def job_names(self) -> tuple[str, ...]:
        return self.jobs or ((self.job,) if self.job else ())

    def as_dict(self) -> JSON:
        return {"namespace": self.namespace, "all_namespaces": self.all_namespaces, "job": self.job,
                "jobs": list(self.job_names())}


class RecordingSource:
    """platform.detect's ObjectSource over the live cluster, writing every answer into the Snapshot.

    `lock` guards the Snapshot, which the job layer fills from another thread at the same time."""

    def __init__(self, live: KubeSource, snapshot: Snapshot, lock: threading.Lock | None = None) -> None:
        self.live = live
        self.snapshot = snapshot
        self.lock = lock or threading.Lock()

    def prefetch(self, reads: Iterable[Read]) -> None:
        self.live.prefetch(reads)

    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        obj = self.live.get(group, version, plural, name, namespace)
        with self.lock:
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
        with self.lock:
            for item in items:
                self.snapshot.add(group, plural, item)
            if label_selector is None:  # only an unfiltered list proves absence
                self.snapshot.mark_collected(group, plural, namespace if namespace is not None else "")
        return items

    def served_versions(self, group: str) -> list[str]:
        versions = self.live.served_versions(group)
        with self.lock:
            self.snapshot.served[group] = list(versions)
        return versions


def collect(kube: Kube, scope: Scope) -> Snapshot:
    snapshot = Snapshot(collected_at=S.utcnow(), scope=scope.as_dict())
    lock = threading.Lock()
    with KubeSource(kube, workers=CLUSTER_READ_WORKERS) as live, ThreadPoolExecutor(max_workers=1) as side:
        # The cluster layer and the jobs do not depend on each other: read them at the same time.
        cluster = side.submit(_collect_cluster_layer, RecordingSource(live, snapshot, lock))
        try:
            jobs = _collect_jobs(kube, snapshot, scope, lock)
            _collect_job_layer(kube, snapshot, jobs, lock)
        finally:
            cluster.result()  # its error (unreachable, 401) is the one to report when both fail
    # The manager's log, bounded, only when a job's own status cannot say why (doctor/operator_log.py).
    OL.collect_operator_log(snapshot, jobs, lambda ns, pod, c, lines, limit: _fetch_log(kube, ns, pod, c, lines, limit))
    return snapshot


def _collect_cluster_layer(source: RecordingSource) -> None:
    snapshot = source.snapshot
    try:
        detect(source)
    except OpenShiftAIMissing:
        pass  # recorded (no served DSC versions / no DSC): evaluate reports LME110
    except ApiError as exc:
        if exc.status != 403:
            raise
        with source.lock:
            snapshot.notes.append(f"{CLUSTER_UNREADABLE_NOTE} ({exc}); cluster rules skipped")
    except PrerequisiteError:
        pass  # recorded; evaluate raises the same error from the snapshot and reports it


def _collect_jobs(kube: Kube, snapshot: Snapshot, scope: Scope, lock: threading.Lock) -> list[JSON]:
    namespace = None if scope.all_namespaces else scope.namespace
    # A field selector takes one name: one cheap LIST per named job.
    queries = [{"fieldSelector": f"metadata.name={name}"} for name in scope.job_names()] or [{}]
    collected: list[str | None] = [namespace]  # the collections read whole: one namespace, or all (None)
    try:
        jobs = _list_jobs(kube, namespace, queries)
    except ApiError as exc:
        if exc.not_found:  # no LMEvalJob CRD: no jobs (LME110/LME101 explain why)
            jobs = []
        elif exc.status == 403 and namespace is None:
            jobs, collected = _jobs_namespace_by_namespace(kube, snapshot, queries, exc, lock)
        else:
            raise
    with lock:
        for job in jobs:
            snapshot.add(R.LMEVAL_GROUP, LMEVAL_PLURAL, job)
        if not scope.job_names():
            for ns in collected:
                snapshot.mark_collected(R.LMEVAL_GROUP, LMEVAL_PLURAL, ns)
    return jobs


def _list_jobs(kube: Kube, namespace: str | None, queries: list[dict[str, str]]) -> list[JSON]:
    """The scope's LMEvalJobs, page by page (LIST_PAGE_SIZE), each healthy one slimmed as its page arrives."""
    path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, namespace)
    return [slim_if_healthy(j) for query in queries
            for j in kube.list_items(path, page_size=LIST_PAGE_SIZE, **query)]


def slim_if_healthy(job: JSON) -> JSON:
    """A succeeded job keeps what the rules read of it (spec, status state/reason/message, metadata) and
    drops what only grows memory: its lm-eval results, field-ownership bookkeeping and the last-applied
    copy of its spec. With thousands of healthy jobs these are most of the bytes held."""
    if _needs_attention(job):
        return job
    meta = dict(job.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if "annotations" in meta:
        meta["annotations"] = annotations
    status = {k: v for k, v in (job.get("status") or {}).items() if k != "results"}
    return {**job, "metadata": meta, "status": status}


def _jobs_namespace_by_namespace(kube: Kube, snapshot: Snapshot, queries: list[dict[str, str]],
                                 denied: ApiError, lock: threading.Lock) -> tuple[list[JSON], list[str | None]]:
    """-A for an identity that may not list LMEvalJobs cluster-wide: the namespaces it can see, read one
    by one (concurrently, bounded); a namespace it may not read is skipped and counted in a note. Without
    even that (no namespace list), the cluster-wide 403 stands."""
    namespaces = _visible_namespaces(kube, denied)

    def read(ns: str) -> list[JSON] | None:
        try:
            return _list_jobs(kube, ns, queries)
        except ApiError as exc:
            if exc.status in (403, 404):
                return None
            raise

    jobs: list[JSON] = []
    readable: list[str | None] = []
    with ThreadPoolExecutor(max_workers=LOG_WORKERS) as pool:
        for ns, found in zip(namespaces, pool.map(read, namespaces), strict=True):
            if found is not None:
                jobs.extend(found)
                readable.append(ns)
    skipped = len(namespaces) - len(readable)
    with lock:
        snapshot.notes.append(
            f"LMEvalJobs are not listable cluster-wide with these credentials: read {len(readable)} namespaces "
            f"one by one" + (f" ({skipped} not readable, skipped)" if skipped else ""))
    return jobs, readable


def _visible_namespaces(kube: Kube, denied: ApiError) -> list[str]:
    """Namespace names the identity may list, else OpenShift's projects (every user may list those it can
    see); neither: the original 403."""
    for path in ("/api/v1/namespaces", "/apis/project.openshift.io/v1/projects"):
        try:
            return sorted(str(n["metadata"]["name"]) for n in kube.list_items(path, page_size=LIST_PAGE_SIZE))
        except ApiError as exc:
            if exc.status not in (403, 404):
                raise
    raise denied


def _needs_attention(job: JSON) -> bool:
    """Not succeeded, or succeeded but its pod was never shut down (its pod is read, its managedFields kept)."""
    status = S.job_status(job)
    succeeded = status.get("state") == "Complete" and status.get("reason") == "Succeeded"
    return not succeeded or LC.shutdown_overdue(job, S.utcnow())


def _collect_job_layer(kube: Kube, snapshot: Snapshot, jobs: list[JSON], lock: threading.Lock) -> None:
    unhealthy = [j for j in jobs if _needs_attention(j)]
    namespaces = sorted({str(j["metadata"].get("namespace")) for j in unhealthy})
    # Pods of healthy jobs are dropped as their page arrives: nothing reads them, and they are most pods.
    pods_of_unhealthy = {(str(j["metadata"].get("namespace")), str(S.job_status(j).get("podName")
                                                                   or j["metadata"]["name"])) for j in unhealthy}
    reads: list[Callable[[], None]] = []
    for ns in namespaces:
        reads.append(_list_into(kube, snapshot, lock, "pods", ns,
                                keep=lambda pod: (pod["metadata"].get("namespace"), pod["metadata"].get("name"))
                                in pods_of_unhealthy))
        reads.append(_list_into(kube, snapshot, lock, "events", ns, fieldSelector="type=Warning"))
        in_ns = [j for j in unhealthy if j["metadata"].get("namespace") == ns]
        if any(S.referenced_pvcs(j) or managed_pvc_name(j) for j in in_ns):  # LME025, LME040
            reads.append(_list_into(kube, snapshot, lock, "persistentvolumeclaims", ns))
    with ThreadPoolExecutor(max_workers=LOG_WORKERS) as pool:
        # Every namespace's lists at once (bounded), then the logs they show are needed, at once (bounded).
        for done in pool.map(lambda read: read(), reads):
            del done
        with lock:
            wanted = list(_logs_wanted(snapshot, unhealthy))
        for (ns, pod, container), text in zip(wanted, pool.map(lambda key: _fetch_log(kube, *key), wanted),
                                              strict=True):
            with lock:
                if text is None:
                    snapshot.notes.append(f"log of {ns}/{pod}/{container} not available")
                else:
                    snapshot.logs[(ns, pod, container)] = text


def _list_into(kube: Kube, snapshot: Snapshot, lock: threading.Lock, plural: str, ns: str,
               keep: Callable[[JSON], bool] | None = None, **query: str) -> Callable[[], None]:
    """One core/v1 list of a namespace into the snapshot (only the items `keep` wants), as a call to run
    on the pool."""

    def read() -> None:
        items = [item for item in kube.list_items(resource_path("", "v1", plural, ns), page_size=LIST_PAGE_SIZE,
                                                  **query) if keep is None or keep(item)]
        with lock:
            snapshot.add_all("", plural, items, ns)

    return read


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
