"""Doctor benchmark: 2,000 LMEvalJobs with pods in 20 namespaces, 200 of them failed with a main log.

Reports the doctor's wall time (`doctor -A -o json` as a fresh process: imports, collection, rules,
rendering), its peak RSS and its API request count, next to:
- the bare list calls it cannot avoid (LMEvalJobs across namespaces, pods and Warning events per namespace),
  timed with the same client: the floor for any tool that looks at pods;
- a naive loop (GET each job, GET its pod, GET the main log of every pod), what a per-job script does.
The cluster is a real apiserver with the sandbox kubelet serving the failed pods' logs; healthy pods are
bound to another node name so the kubelet leaves them alone (the doctor never needs their logs).
`run()` returns bench/run.py's format; `python -m bench.doctor_bench` prints it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

NAMESPACES = 20
JOBS_PER_NAMESPACE = 100
FAILED_PER_NAMESPACE = 10
PROFILE = "rhoai-2.25"
FAILED_LOG = (
    "2025-06-10:14:10:02,311 INFO     [__main__:325] Including path: /opt/app-root/src/my_tasks\n"
    "Traceback (most recent call last):\n"
    "ConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)\n"
)


def _job(ns: str, name: str, failed: bool) -> dict[str, Any]:
    return {
        "apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]},
                 "modelArgs": [{"name": "model", "value": "granite"},
                               {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"},
                               {"name": "tokenizer", "value": "/opt/app-root/src/hf_home/granite"},
                               {"name": "num_concurrent", "value": "4"}, {"name": "max_retries", "value": "3"},
                               {"name": "timeout", "value": "300"}],
                 "offline": {"storage": {"pvcName": "hf-cache"}}},
    }


def _pod(ns: str, name: str, failed: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest", "command": ["bench"]}]}
    if not failed:
        spec["nodeName"] = "elsewhere"  # a finished healthy pod: nothing for our kubelet to run
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "annotations": {"bench.lmeval-setup.io/fail": str(failed)}},
            "spec": spec}


def _populate(kube: Any) -> None:
    from lmeval_setup.kube.client import resource_path
    from lmeval_setup.sandbox import profiles as P

    def one(args: tuple[str, int]) -> None:
        ns, i = args
        failed = i < FAILED_PER_NAMESPACE
        name = f"eval-{i:03d}"
        jobs = resource_path("trustyai.opendatahub.io", "v1alpha1", "lmevaljobs", ns)
        kube.create(jobs, _job(ns, name, failed))
        status = ({"state": "Complete", "reason": "Failed", "message": "exit status 1"} if failed
                  else {"state": "Complete", "reason": "Succeeded", "message": "job completed"})
        # completeTime as the operator writes it once the pod is shut down (else lifecycle.shutdown_overdue)
        kube.merge_patch(f"{jobs}/{name}/status", {"status": {**status, "podName": name,
                                                              "completeTime": "2026-01-01T00:01:00Z"}})
        kube.create(resource_path("", "v1", "pods", ns), _pod(ns, name, failed))

    # The node the healthy pods are bound to must exist, or the pod garbage collector deletes them.
    if kube.get_or_none("/api/v1/nodes/elsewhere") is None:
        kube.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "elsewhere"}})
    namespaces = [f"bench-{n:02d}" for n in range(NAMESPACES)]
    for ns in namespaces:
        P.ensure_namespace(kube, ns)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, [(ns, i) for ns in namespaces for i in range(JOBS_PER_NAMESPACE)]))


def _wait_failed_pods(kube: Any, timeout: float = 300.0) -> None:
    wanted = NAMESPACES * FAILED_PER_NAMESPACE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sum(1 for p in kube.list_items("/api/v1/pods") if p.get("status", {}).get("phase") == "Failed")
        if done >= wanted:
            return
        time.sleep(2.0)
    raise TimeoutError("failed pods did not finish")


def _bare_lists(kube: Any) -> float:
    from lmeval_setup.kube.client import resource_path

    began = time.perf_counter()
    list(kube.list_items(resource_path("trustyai.opendatahub.io", "v1alpha1", "lmevaljobs")))
    for n in range(NAMESPACES):
        ns = f"bench-{n:02d}"
        list(kube.list_items(resource_path("", "v1", "pods", ns)))
        list(kube.list_items(resource_path("", "v1", "events", ns), fieldSelector="type=Warning"))
    return time.perf_counter() - began


def _bare_calls_with_logs(kube: Any) -> float:
    """The bare lists plus the failed pods' log reads, 8 at a time like the doctor: every request it must make."""
    from lmeval_setup.doctor.collect import LOG_TAIL_LINES

    began = time.perf_counter()
    _bare_lists(kube)
    failed = [(f"bench-{n:02d}", f"eval-{i:03d}") for n in range(NAMESPACES) for i in range(FAILED_PER_NAMESPACE)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda nn: kube.pod_log(nn[0], nn[1], "main", tail_lines=LOG_TAIL_LINES), failed))
    return time.perf_counter() - began


def _naive(kube: Any) -> tuple[float, int]:
    from lmeval_setup.errors import LmevalError
    from lmeval_setup.kube.client import resource_path

    before = kube.requests.total
    began = time.perf_counter()
    for n in range(NAMESPACES):
        ns = f"bench-{n:02d}"
        for i in range(JOBS_PER_NAMESPACE):
            name = f"eval-{i:03d}"
            kube.get(resource_path("trustyai.opendatahub.io", "v1alpha1", "lmevaljobs", ns, name))
            with contextlib.suppress(LmevalError):  # pods that never ran have no log
                kube.get(resource_path("", "v1", "pods", ns, name))
                kube.pod_log(ns, name, "main", tail_lines=400)
    return time.perf_counter() - began, kube.requests.total - before


def _doctor_process(kubeconfig: str) -> tuple[float, int, dict[str, Any]]:
    """The real command in a fresh interpreter; peak RSS of that child from getrusage."""
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", "doctor", "-A", "-o", "json",
                           "--kubeconfig", kubeconfig], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(proc.stdout) if proc.stdout.startswith("{") else {"error": proc.stderr[-500:]}
    return elapsed, rss_kib, report


@contextlib.contextmanager
def failing_pods_kubelet(plane: Any, profile: Any) -> Iterator[None]:
    """The sandbox kubelet, with pods annotated bench.lmeval-setup.io/fail=True printing FAILED_LOG and
    exiting 1 (the other pods run as the profile says); stopped on the way out."""
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox.kubelet import Kubelet
    from lmeval_setup.sandbox.scripts import ContainerScript, LogLine

    def resolver(pod: dict[str, Any], container: dict[str, Any]) -> ContainerScript | None:
        if (pod["metadata"].get("annotations") or {}).get("bench.lmeval-setup.io/fail") != "True":
            return None
        return ContainerScript(tuple(LogLine(0.0, t) for t in FAILED_LOG.splitlines()), exit_code=1, linger=0.1)

    kubelet = runner.start_one("kubelet", Kubelet, str(plane.kubeconfig), profile, ca=plane.ca)
    try:
        while kubelet.instance.port == 0:
            time.sleep(0.1)
        kubelet.instance.register(resolver)
        yield
    finally:
        runner.stop_simulators([kubelet], timeout=10.0)


def run() -> dict[str, Any]:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.kube.client import Kube
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, ControlPlane, missing_binaries

    name = "doctor: 2,000 LMEvalJobs in 20 namespaces (200 failed)"
    if missing_binaries():
        return {"name": name, "error": f"control-plane binaries missing ({BUILD_HINT})", "rows": []}
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(Path(tmp)) as plane:
        kube = Kube.connect(str(plane.kubeconfig))
        profile = P.install_profile(kube, PROFILE, P.InstallOptions(trustyai="Managed"))
        with failing_pods_kubelet(plane, profile):
            setup_began = time.perf_counter()
            _populate(kube)
            _wait_failed_pods(kube)
            setup_s = time.perf_counter() - setup_began
            bare_s = min(_bare_lists(kube) for _ in range(3))
            bare_logs_s = min(_bare_calls_with_logs(kube) for _ in range(3))
            counted = Kube.connect(str(plane.kubeconfig))
            in_process_began = time.perf_counter()
            result = evaluate(collect(counted, Scope(all_namespaces=True)))
            in_process_s = time.perf_counter() - in_process_began
            requests = counted.requests.total
            wall_s, rss_kib, report = _doctor_process(str(plane.kubeconfig))
            naive_s, naive_requests = _naive(kube)
    failed_pods = NAMESPACES * FAILED_PER_NAMESPACE
    failed_found = sum(1 for f in result.findings
                       if f.rule_id == "LME001" and any(e.source == "log" for e in f.evidence))
    return {
        "name": name,
        "rows": [
            {"figure": "doctor -A -o json (fresh process)", "value_s": wall_s, "ratio": wall_s / bare_s},
            {"figure": "doctor collect + evaluate (in process)", "value_s": in_process_s,
             "ratio": in_process_s / bare_s, "target": "<= 1.5x bare lists", "met": in_process_s <= 1.5 * bare_s},
            {"figure": "bare list calls (jobs, pods, events per namespace)", "value_s": bare_s, "ratio": 1.0},
            {"figure": "bare list calls + the 200 failed pods' log reads (8 at a time)", "value_s": bare_logs_s,
             "ratio": bare_logs_s / bare_s},
            {"figure": "doctor (in process) vs bare lists + log reads", "value": round(in_process_s / bare_logs_s, 2),
             "unit": "x"},
            {"figure": "naive per-job get + get pod + log loop", "value_s": naive_s, "ratio": naive_s / bare_s},
            {"figure": "doctor speed-up over the naive loop (fresh process)", "value": round(naive_s / wall_s, 1),
             "unit": "x", "target": ">= 10x", "met": naive_s / wall_s >= 10},
            {"figure": "doctor API requests", "value": requests, "unit": "requests"},
            {"figure": "naive loop API requests", "value": naive_requests, "unit": "requests"},
            {"figure": "doctor peak RSS", "value": round(rss_kib / 1024), "unit": "MiB"},
            {"figure": "failed jobs attributed from their log", "value": failed_found, "unit": "jobs",
             "target": NAMESPACES * FAILED_PER_NAMESPACE, "met": failed_found == NAMESPACES * FAILED_PER_NAMESPACE},
        ],
        "notes": [f"setup (creating {NAMESPACES * JOBS_PER_NAMESPACE} jobs and pods, running 200) took {setup_s:.0f} s",
                  f"report summary: {report.get('summary', report.get('error'))}",
                  f"doctor requests = {requests - failed_pods} list/get calls (per namespace and cluster layer) + "
                  f"{failed_pods} log reads (one per failed pod): independent of the number of healthy jobs",
                  f"targets: the 1.5x-of-bare-lists and 10x-over-naive targets are missed because both sides are "
                  f"dominated by the {failed_pods} log reads the diagnosis needs: they alone take "
                  f"{bare_logs_s - bare_s:.2f} s here (the apiserver proxies each to the sandbox kubelet over TLS), "
                  f"while the doctor is {in_process_s / bare_logs_s:.2f}x the bare lists plus those reads; the "
                  f"naive loop's {naive_requests} requests cost only ~{naive_s / max(naive_requests, 1) * 1000:.1f} ms "
                  f"each on loopback, so on a remote cluster (tens of ms per request) the gap widens to well over 10x",
                  f"cores: {os.cpu_count()}"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
