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
        plane.stop()


def create_job(kube: Kube, namespace: str, name: str, *, failed: bool) -> None:
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
