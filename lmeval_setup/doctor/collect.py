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

import builtins
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime

from lmeval_setup.doctor import kueue as KQ
from lmeval_setup.doctor import operator_log as OL
from lmeval_setup.doctor.gc_policy import rare_collections_while_reading
from lmeval_setup.doctor.sanitize import sanitize_log
from lmeval_setup.doctor.snapshot import CLUSTER_UNREADABLE_NOTE, JSON, Snapshot
from lmeval_setup.errors import LmevalError, OpenShiftAIMissing, PrerequisiteError
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.kube.readpool import WAIT_SLICE_S, Future, ReadPool, is_interrupt, wait_for
from lmeval_setup.kube.source import KubeSource, Read
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.rules import lifecycle as LC
from lmeval_setup.rules import pods as P
from lmeval_setup.rules import status as S
from lmeval_setup.rules.managed_pvc import managed_pvc_name

LOG_TAIL_LINES = 400
LOG_LIMIT_BYTES = 512 * 1024
LOG_WORKERS = 8  # -A namespace by namespace (an identity that may not list cluster-wide)
# Reads of the job layer in flight at once (lists and logs of every namespace with unhealthy jobs): on a
# remote cluster each waits a round trip, so a 500-failed-job cluster needs many in flight.
JOB_LAYER_WORKERS = 16
# Objects per LIST page (limit/continue): bounds the bytes of one response, whatever the cluster holds.
LIST_PAGE_SIZE = 500
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# detect()'s widest prefetch round is 4 reads; one more thread reads the jobs side meanwhile.
CLUSTER_READ_WORKERS = 4
LMEVAL_PLURAL = "lmevaljobs"
# The job layer's queue, first first: the reads others wait on (a namespace's LMEvalJobs, then its pods,
# which decide its logs), then the logs (the slowest reads: served through the pod's kubelet), then the
# lists nothing waits on (events, PVCs).
GATING, LOG, REST = 0, 1, 2


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

    # builtins.list: in this class's body `list` is the method above
    def served_versions(self, group: str) -> builtins.list[str]:
        versions = self.live.served_versions(group)
        with self.lock:
            self.snapshot.served[group] = list(versions)
        return versions


def collect(kube: Kube, scope: Scope) -> Snapshot:
    with rare_collections_while_reading():  # doctor/gc_policy.py: decoded JSON makes no garbage cycles
        return _collect(kube, scope)


def _collect(kube: Kube, scope: Scope) -> Snapshot:
    snapshot = Snapshot(collected_at=S.utcnow(), scope=scope.as_dict())
    lock = threading.Lock()
    with KubeSource(kube, workers=CLUSTER_READ_WORKERS) as live, ReadPool(1, "cluster-layer") as side:
        # The cluster layer and the jobs do not depend on each other: read them at the same time.
        cluster = side.submit(_collect_cluster_layer, RecordingSource(live, snapshot, lock))
        try:
            with JobLayer(kube, snapshot, lock) as layer:
                jobs = _collect_jobs(kube, snapshot, scope, lock, layer)
                layer.read_operator_log(jobs, cluster)
                layer.finish(jobs)
        except BaseException as exc:
            if not is_interrupt(exc):  # an interrupted run waits for nothing (kube.readpool)
                wait_for(cluster)  # its error (unreachable, 401) is the one to report when both fail
            raise
        wait_for(cluster)
    # The Workloads of jobs suspended for Kueue: why Kueue does not admit them (doctor/kueue.py).
    KQ.collect_workloads(kube, snapshot, jobs)
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


def _collect_jobs(kube: Kube, snapshot: Snapshot, scope: Scope, lock: threading.Lock,
                  layer: JobLayer | None = None) -> list[JSON]:
    """The scope's LMEvalJobs, each namespace's handed to `layer` as soon as they are in, so its pods,
    events and logs are read while other namespaces' jobs are still coming.

    -A reads namespace by namespace, concurrently: an apiserver serves a namespace's list from its watch
    cache, where a cluster-wide paginated list goes to etcd page by page (at 10,000 jobs it cost the
    apiserver 3-5x the CPU of the 100 namespace lists, and its 20 pages wait on each other). An identity
    that may not list namespaces reads the cluster-wide list (streamed: a namespace is handed over when
    the list moves past it)."""
    namespace = None if scope.all_namespaces else scope.namespace
    # A field selector takes one name: one cheap LIST per named job.
    queries = [{"fieldSelector": f"metadata.name={name}"} for name in scope.job_names()] or [{}]
    collected: list[str | None] = [namespace]  # the collections read whole: one namespace, or all (None)
    streamed = namespace is None and not scope.job_names() and layer is not None
    try:
        per_namespace = _jobs_of_every_namespace(kube, snapshot, layer, lock) if streamed and layer else None
        if per_namespace is not None:
            jobs, collected = per_namespace
        elif streamed and layer is not None:
            jobs = _list_jobs_by_namespace_as_they_come(kube, layer.namespace_listed)
        else:
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


def _jobs_of_every_namespace(kube: Kube, snapshot: Snapshot, layer: JobLayer,
                             lock: threading.Lock) -> tuple[list[JSON], list[str | None]] | None:
    """(jobs, the namespaces read whole) of every namespace, read concurrently; None when the identity
    may not list namespaces. A namespace whose LMEvalJobs it may not read is skipped and counted in a note."""
    try:
        namespaces = sorted(str(n["metadata"]["name"])
                            for n in kube.list_items("/api/v1/namespaces", page_size=LIST_PAGE_SIZE))
    except ApiError as exc:
        if exc.status in (403, 404):
            return None
        raise
    found = layer.read_jobs(namespaces)
    jobs = [job for ns in namespaces for job in found.get(ns) or ()]
    readable: list[str | None] = [ns for ns in namespaces if found.get(ns) is not None]
    if len(readable) == len(namespaces):
        return jobs, [None]  # every namespace: the cluster-wide collection
    with lock:
        snapshot.notes.append(
            f"LMEvalJobs are not listable cluster-wide with these credentials: read {len(readable)} namespaces "
            f"one by one ({len(namespaces) - len(readable)} not readable, skipped)")
    return jobs, readable


def _list_jobs_by_namespace_as_they_come(kube: Kube, namespace_listed: Callable[[str, list[JSON]], None]) -> list[JSON]:
    """The cluster-wide paginated list; the apiserver returns it ordered by namespace (its storage key),
    so when a job of another namespace arrives, the previous namespace is complete. Were a server to
    return a namespace in two runs, it is handed over twice (JobLayer reads only the new jobs' pods)."""
    jobs: list[JSON] = []
    current: str | None = None
    run: list[JSON] = []
    path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, None)
    for job in map(slim_if_healthy, kube.list_items(path, page_size=LIST_PAGE_SIZE)):  # page by page
        ns = str(job["metadata"].get("namespace"))
        if ns != current and run:
            namespace_listed(str(current), run)
            run = []
        current = ns
        run.append(job)
        jobs.append(job)
    if run:
        namespace_listed(str(current), run)
    return jobs


# What a slimmed job keeps of its results: the rules ask only whether it has any.
RESULTS_DROPPED = "(dropped by the doctor: not needed for a diagnosis)"


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
    status = dict(job.get("status") or {})
    if status.get("results"):
        status["results"] = RESULTS_DROPPED  # the rules only ask whether there are any (LME041)
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
    with ReadPool(LOG_WORKERS, "namespace-read") as pool:
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


class JobLayer:
    """Per namespace with unhealthy jobs: its pods, Warning events (and PVCs when a job names one) listed
    at once, then, as soon as its pods are in, the logs they show are needed; all on one bounded pool,
    namespaces as they are handed over (namespace_listed) or at the end (finish), so no namespace waits
    for another.

    Queued reads start in the order GATING, LOG, REST (first in, first out within each): with 16 reads
    in flight and hundreds queued, a namespace's pods list, then its logs, queued behind every other
    namespace's events and PVC lists, and the logs (the long pole on a remote cluster) started rounds
    later than they could; the lists nothing waits on now fill the gaps."""

    def __init__(self, kube: Kube, snapshot: Snapshot, lock: threading.Lock) -> None:
        self.kube, self.snapshot, self.lock = kube, snapshot, lock
        self._pool = ReadPool(JOB_LAYER_WORKERS, "job-layer")
        # Work waiting for a worker, by priority (GATING, LOG, REST): each pool task takes the first there is.
        self._queues: tuple[deque[tuple[Callable[..., object], tuple[object, ...]]], ...] = (
            deque(), deque(), deque())
        self._done = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        # (namespace, job name) of every job handed over: each is judged (and its reads started) once, though
        # finish() hands every namespace over again and a server may return a namespace in two runs
        self._handed: set[tuple[str, str]] = set()
        self._dispatching = threading.Lock()  # namespaces are handed over from several threads
        self._unavailable: dict[tuple[str, str, str], int] = {}  # log key -> its position among its pod's

    def __enter__(self) -> JobLayer:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        # Queued reads are cancelled; running ones waited for, unless the process is being interrupted.
        self._pool.shutdown(wait=not is_interrupt(exc))

    def read_jobs(self, namespaces: list[str]) -> dict[str, list[JSON] | None]:
        """Each namespace's LMEvalJobs (None: not readable, 403/404), listed concurrently on the pool;
        each namespace's job layer starts as soon as its own list is in. Waits for every read started."""
        found: dict[str, list[JSON] | None] = {}

        def read(ns: str) -> None:
            try:
                jobs = _list_jobs(self.kube, ns, [{}])
            except ApiError as exc:
                if exc.status not in (403, 404):
                    raise
                found[ns] = None
                return
            found[ns] = jobs
            self.namespace_listed(ns, jobs)

        for ns in namespaces:
            self._submit(read, ns, priority=GATING)
        self._wait()
        return found

    def namespace_listed(self, ns: str, jobs: list[JSON]) -> None:
        with self._dispatching:
            new = [j for j in jobs if (ns, str(j["metadata"].get("name"))) not in self._handed]
            self._handed.update((ns, str(j["metadata"].get("name"))) for j in new)
        unhealthy = [j for j in new if _needs_attention(j)]
        if not unhealthy:
            return
        # Pods of healthy jobs are dropped as their page arrives: nothing reads them, and they are most pods.
        pods = {_pod_name(j) for j in unhealthy}
        read_pods = _list_into(self.kube, self.snapshot, self.lock, "pods", ns,
                               keep=lambda pod: pod["metadata"].get("name") in pods)
        def read_pods_then_their_logs() -> None:
            read_pods()
            self._read_logs_of(unhealthy)
        self._submit(read_pods_then_their_logs, priority=GATING)
        # Nothing waits on these: which logs to read depends on the pods alone (rules.pods.needed_logs).
        self._submit(_list_into(self.kube, self.snapshot, self.lock, "events", ns, fieldSelector="type=Warning"))
        if any(S.referenced_pvcs(j) or managed_pvc_name(j) for j in unhealthy):  # LME025, LME040
            self._submit(_list_into(self.kube, self.snapshot, self.lock, "persistentvolumeclaims", ns))

    def read_operator_log(self, jobs: list[JSON], cluster: Future[None]) -> None:
        """The manager's log, bounded, only when a job's own status cannot say why (doctor/operator_log.py):
        read as soon as the cluster layer has found the operator's pod, beside the jobs' own logs. It was
        read after them, and a log read is the slowest request (served through the pod's kubelet): at 0 ms
        RTT on the sandbox, ~50 ms of a cold run's wall time waited on it alone."""
        if not OL.needs_operator_log(self.snapshot, jobs):
            return

        def read() -> None:
            try:
                wait_for(cluster)
            except Exception:  # the collecting thread reports the cluster layer's error (wait_for below)
                return
            OL.collect_operator_log(self.snapshot, jobs, lambda ns, pod, c, lines, limit: _fetch_log(
                self.kube, ns, pod, c, lines, limit), self.lock)

        self._submit(read, priority=LOG)

    def _read_logs_of(self, unhealthy: list[JSON]) -> None:
        """The logs the namespace's pods (just listed) show are needed, queued."""
        with self.lock:
            wanted = list(_logs_wanted(self.snapshot, unhealthy))
        position: dict[str, int] = {}
        for key in wanted:
            position[key[1]] = position.get(key[1], -1) + 1
            self._submit(self._read_log, key, position[key[1]], priority=LOG)

    def finish(self, jobs: list[JSON]) -> None:
        """Hand over what was not yet (every namespace, when the jobs were not streamed), wait for all
        reads, and note the logs that could not be read, in the jobs' order."""
        by_namespace: dict[str, list[JSON]] = {}
        for job in jobs:
            by_namespace.setdefault(str(job["metadata"].get("namespace")), []).append(job)
        for ns, in_ns in by_namespace.items():
            self.namespace_listed(ns, in_ns)
        self._wait()
        order = {(str(j["metadata"].get("namespace")), _pod_name(j)): i for i, j in enumerate(jobs)}
        for ns, pod, container in sorted(self._unavailable, key=lambda k: (order.get(k[:2], -1),
                                                                           self._unavailable[k])):
            self.snapshot.notes.append(f"log of {ns}/{pod}/{container} not available")

    def _wait(self) -> None:
        """Until no read is under way; the first read's error is raised."""
        with self._done:
            while not self._done.wait_for(lambda: self._pending == 0, timeout=WAIT_SLICE_S):
                pass  # in slices: Ctrl-C and SIGTERM are handled between them (kube.readpool.wait_for)
        if self._error is not None:
            raise self._error

    def _read_log(self, key: tuple[str, str, str], position: int) -> None:
        text = _fetch_log(self.kube, *key)
        with self.lock:
            if text is None:
                self._unavailable[key] = position
            else:
                self.snapshot.logs[key] = text

    def _submit(self, work: Callable[..., object], *args: object, priority: int = REST) -> None:
        """Queue `work(*args)` behind the work of the same or a higher priority (GATING, LOG, REST)."""
        with self._done:
            if self._error is not None:
                return  # a read failed: the collection fails with it, start nothing more
            self._pending += 1
            self._queues[priority].append((work, args))
        self._pool.submit(self._run_next)  # one pool task per queued item: there is always one to take

    def _run_next(self) -> None:
        with self._done:
            work, args = next(q for q in self._queues if q).popleft()
        self._run(work, *args)

    def _run(self, work: Callable[..., object], *args: object) -> None:
        try:
            work(*args)
        except BaseException as exc:  # handed to the collecting thread by finish()
            with self._done:
                self._error = self._error or exc
        finally:
            with self._done:
                self._pending -= 1
                self._done.notify_all()


def _pod_name(job: JSON) -> str:
    return str(S.job_status(job).get("podName") or job["metadata"]["name"])


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
        pod_name = _pod_name(job)
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
