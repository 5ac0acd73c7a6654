"""The doctor's reads against a real apiserver: how many round trips wait on each other (what a remote
cluster charges for), that no read is wasted or repeated, and how lists scale (pagination, the
per-namespace fallback for an identity that may not list cluster-wide).

One control plane for the module, the rhoai-2.22 profile installed with TrustyAI Managed and the
platform-operator simulator (the operator Deployment, its ConfigMap; its pods are created by the
controller-manager and stay Pending: no kubelet is needed for what is measured here).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testsupport import require_controlplane_binaries, wait_for

from lmeval_setup.doctor.collect import RESULTS_DROPPED
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = [pytest.mark.controlplane]

NS = "doctor-rounds"
FAILED_JOBS = 3
# Each request is held this long, so reads started together overlap for sure, even on a loaded machine.
HELD_S = 0.3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.platform_operator import PlatformOperator

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("doctor-scale-plane"))
    plane.start()
    sims: list[Any] = []
    try:
        kube = Kube.connect(str(plane.kubeconfig))
        profile = P.install_profile(kube, "rhoai-2.22", P.InstallOptions(trustyai="Managed"))
        sims.append(runner.start_one("platform-operator", PlatformOperator, str(plane.kubeconfig), profile))
        deployment = resource_path("apps", "v1", "deployments", "redhat-ods-applications", R.OPERATOR_DEPLOYMENT)
        wait_for("the operator Deployment", lambda: kube.get_or_none(deployment), timeout=60)
        P.ensure_namespace(kube, NS)
        for i in range(FAILED_JOBS):
            create_job(kube, NS, f"failed-{i}", failed=True)
        create_job(kube, NS, "good", failed=False)
        yield {"plane": plane, "kube": kube, "kubeconfig": Path(plane.kubeconfig)}
    finally:
        runner.stop_simulators(sims, timeout=10.0)
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def create_job(kube: Kube, namespace: str, name: str, *, failed: bool, results: str | None = None) -> None:
    """An LMEvalJob with its status written through the status subresource (no operator runs it)."""
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace)
    kube.create(jobs, {
        "apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": "hf", "taskList": {"taskNames": ["arc_easy"]},
                 "modelArgs": [{"name": "pretrained", "value": "google/flan-t5-small"}]},
    })
    status = ({"state": "Complete", "reason": "Failed", "message": "exit status 1", "podName": name} if failed
              else {"state": "Complete", "reason": "Succeeded", "podName": name})
    if results is not None:
        status["results"] = results
    kube.merge_patch(f"{jobs}/{name}/status", {"status": status})


class RoundCounter:
    """Wraps Kube.request: each request is held HELD_S and gets a round, 1 + the highest round among the
    requests that had finished when it started. The highest round is how many round trips waited on
    each other: what RTT multiplies on a remote cluster."""

    def __init__(self, kube: Kube) -> None:
        self._inner = kube.request
        self._lock = threading.Lock()
        self._finished: list[tuple[float, int]] = []
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.deepest = 0
        kube.request = self.request  # type: ignore[method-assign]

    def request(self, method: str, path: str, **kw: Any) -> Any:
        started = time.monotonic()
        with self._lock:
            depth = 1 + max((r for end, r in self._finished if end <= started), default=0)
            self.requests[(method, path, repr(sorted((kw.get("query") or {}).items())))] += 1
        try:
            time.sleep(HELD_S)
            return self._inner(method, path, **kw)
        finally:
            with self._lock:
                self._finished.append((time.monotonic(), depth))
                self.deepest = max(self.deepest, depth)


def test_one_namespace_waits_on_five_rounds_and_reads_nothing_twice(cluster: dict[str, Any]) -> None:
    """detect()'s eleven reads in four prefetched rounds (discovery and CRDs; DSC and DSCI lists; the
    operator Deployment and both ConfigMaps; the operator pods), the jobs' reads meanwhile, then the
    operator's log (the failed jobs' status names no cause): a -n run waits on five round trips, where
    reading one after another waited on fifteen."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    kube = Kube.connect(str(cluster["kubeconfig"]))
    counter = RoundCounter(kube)
    snapshot = collect(kube, Scope(namespace=NS))
    repeated = {key: n for key, n in counter.requests.items() if n > 1}
    assert not repeated, f"requests made more than once: {repeated}"
    assert counter.deepest <= 5, f"{counter.deepest} round trips waited on each other"
    result = evaluate(snapshot)
    assert {t.name for t in result.checked if t.kind == "LMEvalJob"} == {"good"} | {
        f"failed-{i}" for i in range(FAILED_JOBS)}
    assert snapshot.cluster_unreadable() is None and R.OPERATOR_CONFIGMAP in {
        key[3] for key in snapshot.objects if key[1] == "configmaps"}


def test_every_prefetched_read_is_used(cluster: dict[str, Any]) -> None:
    """The hints name exactly the reads detect() then makes: none is requested for nothing."""
    from lmeval_setup.kube.source import KubeSource
    from lmeval_setup.platform.detect import detect

    kube = Kube.connect(str(cluster["kubeconfig"]))
    with KubeSource(kube, workers=4) as source:
        facts = detect(source)
    assert source.unused == 0
    assert facts.applications_namespace == "redhat-ods-applications" and facts.operator.deployment is not None
    plain = Kube.connect(str(cluster["kubeconfig"]))
    assert detect(KubeSource(plain)).as_dict() == facts.as_dict()  # same answers without prefetching
    assert plain.requests.total == kube.requests.total


# -- scale: pagination, the per-namespace fallback, healthy jobs slimmed ------------------------------------
SCALE_NAMESPACES = ("scale-a", "scale-b", "scale-c")
SCALE_JOBS = 150  # 50 per namespace, every 50th failed
PAGE = 25


@pytest.fixture(scope="module")
def many_jobs(cluster: dict[str, Any]) -> dict[str, Any]:
    """150 LMEvalJobs over three namespaces, created concurrently; each succeeded one carries results."""
    from concurrent.futures import ThreadPoolExecutor

    from lmeval_setup.sandbox import profiles as P

    kube: Kube = cluster["kube"]
    for ns in SCALE_NAMESPACES:
        P.ensure_namespace(kube, ns)
    names = [(SCALE_NAMESPACES[i % 3], f"job-{i:03d}", i % 50 == 0) for i in range(SCALE_JOBS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: create_job(kube, n[0], n[1], failed=n[2], results='{"results": {}}'), names))
    return {"names": names}


def _recording(kube: Kube) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    inner = kube.request

    def request(method: str, path: str, **kw: Any) -> Any:
        seen.append((path, dict(kw.get("query") or {})))
        return inner(method, path, **kw)

    kube.request = request  # type: ignore[method-assign]
    return seen


def test_all_namespaces_pages_through_every_namespace_at_once(cluster: dict[str, Any], many_jobs: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """-A by an identity that may list namespaces: each namespace's LMEvalJobs, paginated, the namespaces
    read concurrently (served from the apiserver's watch cache, where a cluster-wide paginated list goes
    to etcd page after page): no cluster-wide LMEvalJob list, and the pages of one namespace are the only
    reads that wait on each other."""
    from lmeval_setup.doctor import collect as C

    monkeypatch.setattr(C, "LIST_PAGE_SIZE", PAGE, raising=False)
    kube = Kube.connect(str(cluster["kubeconfig"]))
    seen = _recording(kube)
    counter = RoundCounter(kube)
    snapshot = C.collect(kube, C.Scope(all_namespaces=True))
    jobs = snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")
    assert {(j["metadata"]["namespace"], j["metadata"]["name"]) for j in jobs} >= {
        (ns, name) for ns, name, _ in many_jobs["names"]}
    assert not [q for path, q in seen if path == resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")]
    for ns in SCALE_NAMESPACES:
        pages = [q for path, q in seen if path == resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)]
        assert len(pages) == -(-(SCALE_JOBS // 3) // PAGE), f"one LIST per page of {ns}"
        assert all(q["limit"] == PAGE for q in pages) and all(q.get("continue") for q in pages[1:])
    # namespaces, a namespace's 2 pages, its pods and events, the operator's log: 5 (a cluster-wide list
    # of the 150+ jobs was 7 pages, then every namespace's reads: 9)
    assert counter.deepest <= 5, f"{counter.deepest} round trips waited on each other"
    assert not snapshot.notes, snapshot.notes
    assert snapshot.knows(R.LMEVAL_GROUP, "lmevaljobs", None), "every namespace read: the -A collection is whole"
    succeeded = next(j for j in jobs if j["metadata"]["name"] == "job-001")
    # its results dropped, the fact that it had some kept (LME041 asks), its managedFields dropped
    assert succeeded["status"]["results"] == RESULTS_DROPPED and "managedFields" not in succeeded["metadata"]
    failed = next(j for j in jobs if j["metadata"]["name"] == "job-000")
    assert failed["status"].get("results") and failed["metadata"].get("managedFields")  # kept as read


def test_an_identity_without_cluster_wide_list_reads_namespace_by_namespace(
        cluster: dict[str, Any], many_jobs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """May list namespaces and LMEvalJobs in two of the three scale namespaces only: -A reads those two one
    by one (paginated), says how many it skipped, and fails on nothing."""
    from lmeval_setup.doctor import collect as C
    from lmeval_setup.doctor.evaluate import evaluate

    admin: Kube = cluster["kube"]
    user = "scale-reader"
    admin.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "metadata": {"name": user},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]},
                  {"apiGroups": [R.LMEVAL_GROUP], "resources": ["lmevaljobs"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["pods", "events", "pods/log"], "verbs": ["get", "list"]}]})
    admin.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "metadata": {"name": f"{user}-namespaces"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view-namespaces"},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    admin.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "metadata": {"name": "view-namespaces"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]})
    readable = SCALE_NAMESPACES[:2]
    for ns in readable:
        admin.create(resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", ns), {
            "metadata": {"name": user, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    monkeypatch.setattr(C, "LIST_PAGE_SIZE", PAGE, raising=False)
    kube = Kube.connect(str(cluster["plane"].kubeconfig_for(user)))
    seen = _recording(kube)
    wanted = {(ns, name) for ns, name, _ in many_jobs["names"] if ns in readable}
    snapshot = wait_for("the RBAC bindings to apply", lambda: _when_readable(C, kube, wanted), timeout=30)
    jobs = {(j["metadata"]["namespace"], j["metadata"]["name"])
            for j in snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")}
    assert jobs == wanted
    skipped = [n for n in snapshot.notes if "not listable cluster-wide" in n]
    assert skipped and "not readable, skipped" in skipped[0]
    per_ns = [q for path, q in seen if path == resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs",
                                                              readable[0])]
    assert len(per_ns) >= 2 and per_ns[-1].get("continue"), "each namespace's list is paginated too"
    result = evaluate(snapshot)
    assert {t.name for t in result.checked if t.kind == "LMEvalJob"} == {name for _, name in wanted}


def _when_readable(C: Any, kube: Kube, wanted: set[tuple[str, str]]) -> Any:
    snapshot = C.collect(kube, C.Scope(all_namespaces=True))
    got = {(j["metadata"]["namespace"], j["metadata"]["name"])
           for j in snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")}
    return snapshot if got == wanted else None


def test_a_namespace_is_read_while_the_cluster_wide_list_is_still_paging(
        cluster: dict[str, Any], many_jobs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """-A by an identity that may list LMEvalJobs cluster-wide but not namespaces reads the cluster-wide
    list, and hands each namespace over as soon as the list has moved past it: the first scale namespace's pods
    and Warning events are read before the last page of LMEvalJobs is in, instead of after every page (at
    10,000 jobs and 25 ms RTT the job layer's 600 reads all waited for the list's 20 pages); nothing is
    read twice."""
    from lmeval_setup.doctor import collect as C

    admin: Kube = cluster["kube"]
    user = "jobs-reader-no-namespaces"
    admin.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "metadata": {"name": user},
        "rules": [{"apiGroups": [R.LMEVAL_GROUP], "resources": ["lmevaljobs"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["pods", "events", "pods/log", "persistentvolumeclaims"],
                   "verbs": ["get", "list"]}]})
    admin.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    monkeypatch.setattr(C, "LIST_PAGE_SIZE", PAGE, raising=False)
    kube = Kube.connect(str(cluster["plane"].kubeconfig_for(user)))
    all_jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")
    wait_for("the RBAC binding to apply", lambda: kube.get(all_jobs, limit=1), timeout=30)
    counter = RoundCounter(kube)
    spans: list[tuple[str, float, float]] = []
    timed = kube.request

    def request(method: str, path: str, **kw: Any) -> Any:
        began = time.monotonic()
        try:
            return timed(method, path, **kw)
        finally:
            spans.append((path, began, time.monotonic()))

    kube.request = request  # type: ignore[method-assign]
    snapshot = C.collect(kube, C.Scope(all_namespaces=True))
    pages = [end for path, _, end in spans if path == all_jobs]
    assert len(pages) >= 6, "the list must span several pages for this test to say anything"
    first = SCALE_NAMESPACES[0]
    started = {path: began for path, began, _ in spans}
    for read in (resource_path("", "v1", "pods", first), resource_path("", "v1", "events", first)):
        assert started[read] < max(pages), f"{read} waited for the whole cluster-wide list"
    repeated = {key: n for key, n in counter.requests.items() if n > 1}
    assert not repeated, f"requests made more than once: {repeated}"
    assert {(ns, name) for ns, name, _ in many_jobs["names"]} <= {
        (j["metadata"]["namespace"], j["metadata"]["name"])
        for j in snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs")}


# -- the job layer's order: the reads others wait on first ------------------------------------------------
LOG_ORDER_NAMESPACES = ("log-order-a", "log-order-b")
UNSERVED_NODE = "doctor-scale-unserved"  # a Node no kubelet serves: its pods' logs are asked for, not served


@pytest.fixture(scope="module")
def failed_pods(cluster: dict[str, Any]) -> tuple[str, ...]:
    """In each of two namespaces, a failed job whose pod's main container exited 1: the doctor reads its log."""
    from lmeval_setup.sandbox import profiles as P

    kube: Kube = cluster["kube"]
    if kube.get_or_none(f"/api/v1/nodes/{UNSERVED_NODE}") is None:  # else the pod GC deletes its pods
        kube.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": UNSERVED_NODE}})
    for ns in LOG_ORDER_NAMESPACES:
        P.ensure_namespace(kube, ns)
        create_job(kube, ns, "failed", failed=True)
        pods = resource_path("", "v1", "pods", ns)
        kube.create(pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "failed", "namespace": ns},
                           "spec": {"nodeName": UNSERVED_NODE, "restartPolicy": "Never",
                                    "tolerations": [{"operator": "Exists"}],  # the node never reports Ready
                                    "containers": [{"name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest"}]}})
        kube.merge_patch(f"{pods}/failed/status", {"status": {"phase": "Failed", "containerStatuses": [{
            "name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error",
                                                        "startedAt": "2026-01-01T00:00:00Z",
                                                        "finishedAt": "2026-01-01T00:01:00Z"}}}]}})
    return LOG_ORDER_NAMESPACES


def _is_log(path: str) -> bool:
    return path.endswith("/log")


def test_a_namespaces_logs_do_not_wait_for_its_events_and_pvc_lists(cluster: dict[str, Any],
                                                                    failed_pods: tuple[str, ...]) -> None:
    """Which logs to read follows from the pods alone: the failed pod's log read starts while the
    namespace's Warning-events list is still under way (it used to wait for the last of the namespace's
    lists, a round trip more whenever events or PVCs answered after the pods)."""
    from lmeval_setup.doctor.collect import Scope, collect

    ns = failed_pods[0]
    kube = Kube.connect(str(cluster["kubeconfig"]))
    log_started = threading.Event()
    events_waited: list[bool] = []
    inner = kube.request

    def request(method: str, path: str, **kw: Any) -> Any:
        if _is_log(path):
            log_started.set()
        elif path == resource_path("", "v1", "events", ns):
            events_waited.append(log_started.wait(timeout=10))  # held until the log read starts, or 10 s
        return inner(method, path, **kw)

    kube.request = request  # type: ignore[method-assign]
    snapshot = collect(kube, Scope(namespace=ns))
    assert events_waited == [True], "the log read waited for the namespace's events list"
    assert f"log of {ns}/failed/main not available" in snapshot.notes  # asked for; no kubelet serves it


def test_the_reads_others_wait_on_go_first_then_logs_then_the_rest(
        cluster: dict[str, Any], failed_pods: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker makes the job layer's order visible: every namespace's LMEvalJobs and pods (which decide
    the logs) are read before any log, and every log before any Warning-events or PVC list (which nothing
    waits on). First in, first out, a namespace's pods list and then its logs queued behind every other
    namespace's events and PVC lists: on a remote cluster the logs, the long pole, started rounds late."""
    from lmeval_setup.doctor import collect as C

    monkeypatch.setattr(C, "JOB_LAYER_WORKERS", 1)
    kube = Kube.connect(str(cluster["kubeconfig"]))
    seen = _recording(kube)
    snapshot = C.collect(kube, C.Scope(all_namespaces=True))
    # The operator's pods (detect) and log (read after the job layer: doctor/operator_log.py) are not the job
    # layer's.
    operator = "/namespaces/redhat-ods-applications/"  # the rhoai-2.22 profile's applications namespace
    job_side = [path for path, _ in seen if path.endswith(("/lmevaljobs", "/pods", "/log", "/events",
                                                           "/persistentvolumeclaims")) and operator not in path]
    kinds = [path.rsplit("/", 1)[1] for path in job_side]
    first_rest = min(i for i, kind in enumerate(kinds) if kind in ("events", "persistentvolumeclaims"))
    assert {"lmevaljobs", "pods", "log"} == set(kinds[:first_rest]), kinds
    assert max(i for i, kind in enumerate(kinds) if kind == "log") < first_rest, kinds
    assert max(i for i, kind in enumerate(kinds) if kind in ("lmevaljobs", "pods")) < min(
        i for i, kind in enumerate(kinds) if kind == "log"), kinds
    assert kinds.count("log") >= len(failed_pods) and kinds.count("events") >= len(failed_pods)
    assert {f"log of {ns}/failed/main not available" for ns in failed_pods} <= set(snapshot.notes)
