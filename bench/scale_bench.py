"""Scale: `doctor -A` on 1,000 and 10,000 LMEvalJobs (10 and 100 namespaces of 100 jobs, 5% failed).

Issue 15 item 2: wall time and peak RSS of the real command (a fresh process) at both sizes, the 10,000
run also at 25 ms RTT (toxiproxy, as bench/latency_bench.py), and its requests. Targets: at 10,000 jobs
<= 15 s at 25 ms RTT and peak RSS <= 300 MiB; memory flat in the number of healthy jobs (the 10x larger
cluster should cost far less than 10x the memory).

The objects are created directly through the API, not run: jobs with their final status written through
the status subresource, a pod per job (healthy ones bound to a node no kubelet serves, so nothing runs
them). The first LOGGED_FAILED failed pods (all of them: the sandbox kubelet simulator no longer stalls
at a few hundred pods: e601800, 1cbd828) are bound to it and run a failing script (their `main` log is served
through the apiserver); any other failed pod is bound to the unserved node with a Failed status: the
doctor asks for its log, the apiserver answers an error at once, and the report notes it as not available.
`run()` returns bench/run.py's format; `python -m bench.scale_bench` prints it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.doctor_bench import _job, failing_pods_kubelet
from bench.sandbox_support import (
    TOXIPROXY_VERSION,
    attributed_from_log,
    peer,
    proxied_kubeconfig,
    run_doctor,
    toxiproxy,
)

PROFILE = "rhoai-2.25"
JOBS_PER_NAMESPACE = 100
FAILED_PER_NAMESPACE = 5
SIZES = (10, 100)  # namespaces: 1,000 and 10,000 jobs
LOGGED_FAILED = 500  # failed pods the kubelet simulator runs (and serves the log of): every one at 10,000 jobs
UNSERVED_NODE = "elsewhere"
RSS_TARGET_MIB = 300
WALL_TARGET_S = 15.0
RTT_MS = 25
COMPLETE_TIME = "2026-01-01T00:01:00Z"
# The doctor before issue 15 item 2's second round, measured at 10,000 jobs and 25 ms in the same run;
# LMEVAL_BENCH_SCALE_BASELINE names another git ref, "" skips it.
BASELINE_REF = os.environ.get("LMEVAL_BENCH_SCALE_BASELINE", "167145b")


def _pod(ns: str, name: str, failed: bool, served: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest", "command": ["bench"]}]}
    if not served:
        spec["nodeName"] = UNSERVED_NODE
        # That node never reports Ready: without this the taint manager evicts its pods after 5 minutes.
        spec["tolerations"] = [{"operator": "Exists"}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns,
                         "annotations": {"bench.lmeval-setup.io/fail": str(failed and served)}},
            "spec": spec}


def _failed_status() -> dict[str, Any]:
    """What a kubelet writes for a main container that exited 1."""
    return {"phase": "Failed", "containerStatuses": [{
        "name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest", "imageID": "", "ready": False,
        "restartCount": 0, "started": False,
        "state": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z",
                                 "finishedAt": "2026-01-01T00:01:00Z"}}}]}


def populate(kube: Any, first: int, last: int, served_failed: list[int]) -> None:
    """Namespaces scale-<first>..scale-<last - 1> of JOBS_PER_NAMESPACE jobs and pods each."""
    from lmeval_setup.kube.client import resource_path
    from lmeval_setup.sandbox import profiles as P

    def one(args: tuple[str, int, bool]) -> None:
        ns, i, served = args
        failed = i < FAILED_PER_NAMESPACE
        name = f"eval-{i:03d}"
        jobs = resource_path("trustyai.opendatahub.io", "v1alpha1", "lmevaljobs", ns)
        kube.create(jobs, _job(ns, name, failed))
        status = ({"state": "Complete", "reason": "Failed", "message": "exit status 1"} if failed
                  else {"state": "Complete", "reason": "Succeeded", "message": "job completed",
                        "results": json.dumps({"results": {"arc_easy": {"acc,none": 0.5}}, "configs": {}})})
        # completeTime as the operator writes it once the pod is shut down (without it, a Complete job is
        # one whose shutdown never succeeded: lifecycle.shutdown_overdue, read whole with its pod)
        kube.merge_patch(f"{jobs}/{name}/status", {"status": {**status, "podName": name,
                                                              "completeTime": COMPLETE_TIME}})
        pods = resource_path("", "v1", "pods", ns)
        kube.create(pods, _pod(ns, name, failed, served))
        if failed and not served:
            kube.merge_patch(f"{pods}/{name}/status", {"status": _failed_status()})

    namespaces = [f"scale-{n:03d}" for n in range(first, last)]
    for ns in namespaces:
        P.ensure_namespace(kube, ns)
    items = []
    for ns in namespaces:
        for i in range(JOBS_PER_NAMESPACE):
            served = i < FAILED_PER_NAMESPACE and served_failed[0] > 0
            served_failed[0] -= served
            items.append((ns, i, served))
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, items))


def doctor(kubeconfig: Path, tree: Path | None = None) -> tuple[float, float, dict[str, Any], int]:
    """(wall s, peak RSS MiB, report, exit code) of `doctor -A -o json` in a fresh interpreter (this
    checkout's, or the lmeval_setup tree extracted from another commit)."""
    done = run_doctor(kubeconfig, tree=tree)
    return done.wall_s, done.rss_mib, done.report, done.code


def in_process(kubeconfig: Path) -> tuple[int, dict[str, int], float, float]:
    """(requests, requests by verb, collect s, evaluate s): where the time goes, reads against rules."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.kube.client import Kube

    kube = Kube.connect(str(kubeconfig))
    began = time.perf_counter()
    snapshot = collect(kube, Scope(all_namespaces=True))
    collected = time.perf_counter()
    evaluate(snapshot)
    return kube.requests.total, dict(kube.requests.by_verb), collected - began, time.perf_counter() - collected


def _wait_served(kube: Any, wanted: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = kube.list_items("/api/v1/pods", labelSelector=None, fieldSelector=f"spec.nodeName!={UNSERVED_NODE}")
        done = sum(1 for p in pods if (p.get("metadata", {}).get("annotations") or {}).get(
            "bench.lmeval-setup.io/fail") == "True" and p.get("status", {}).get("phase") == "Failed")
        if done >= wanted:
            return
        time.sleep(2.0)
    raise TimeoutError("the kubelet simulator did not finish the served failed pods")


def run() -> dict[str, Any]:
    from bench import latency_bench as L
    from lmeval_setup.kube.client import Kube
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, ControlPlane, missing_binaries

    name = "Scale: doctor -A on 1,000 and 10,000 LMEvalJobs (5% failed)"
    if missing_binaries():
        return {"name": name, "error": f"control-plane binaries missing ({BUILD_HINT})", "rows": []}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    served_left = [LOGGED_FAILED]
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(Path(tmp) / "plane") as plane:
        kube = Kube.connect(str(plane.kubeconfig))
        profile = P.install_profile(kube, PROFILE, P.InstallOptions(trustyai="Managed"))
        if kube.get_or_none(f"/api/v1/nodes/{UNSERVED_NODE}") is None:  # else the pod GC deletes its pods
            kube.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": UNSERVED_NODE}})
        with failing_pods_kubelet(plane, profile):
            created = 0
            for size in SIZES:
                began = time.perf_counter()
                populate(kube, created, size, served_left)
                _wait_served(kube, LOGGED_FAILED - served_left[0])
                notes.append(f"setup to {size * JOBS_PER_NAMESPACE} jobs: {time.perf_counter() - began:.0f} s "
                             f"(jobs, statuses and pods created through the API, 16 at a time)")
                created = size
                rows += measure(plane.kubeconfig, size * JOBS_PER_NAMESPACE, notes)
            with toxiproxy(peer("toxiproxy-server", TOXIPROXY_VERSION) or Path("/nonexistent"),
                           plane.server.removeprefix("https://"), Path(tmp)) as proxy:
                proxied = proxied_kubeconfig(plane.kubeconfig, proxy.listen, Path(tmp) / "proxied.kubeconfig")
                proxy.set_rtt(RTT_MS)
                wall, rss, report, code = doctor(proxied)
                rows.append({"figure": f"10,000 jobs at {RTT_MS} ms RTT: doctor -A -o json (fresh process)",
                             "value_s": wall, "target": f"<= {WALL_TARGET_S:g} s", "met": wall <= WALL_TARGET_S})
                rows.append({"figure": f"10,000 jobs at {RTT_MS} ms RTT: peak RSS", "value": round(rss),
                             "unit": "MiB", "target": f"<= {RSS_TARGET_MIB}", "met": rss <= RSS_TARGET_MIB})
                if code not in (0, 1):
                    notes.append(f"doctor at {RTT_MS} ms exited {code}: {report.get('error', '')}")
                notes.append(f"10,000 jobs at {RTT_MS} ms RTT: {attributed_from_log(report)} failed jobs attributed "
                             f"from their log; load average {os.getloadavg()[0]:.1f} (1 min) when measured")
                baseline = L.extract_baseline(BASELINE_REF, Path(tmp))
                if baseline is not None:
                    wall, rss, report, code = doctor(proxied, baseline)
                    rows.append({"figure": f"10,000 jobs at {RTT_MS} ms RTT: doctor before ({BASELINE_REF}, same run)",
                                 "value_s": wall})
                    rows.append({"figure": f"10,000 jobs at {RTT_MS} ms RTT: peak RSS before ({BASELINE_REF})",
                                 "value": round(rss), "unit": "MiB"})
    rss_1k = next(r["value"] for r in rows if r["figure"].startswith("1,000 jobs: peak RSS"))
    rss_10k = next(r["value"] for r in rows if r["figure"].startswith("10,000 jobs: peak RSS"))
    rows.append({"figure": "peak RSS at 10,000 jobs / at 1,000 (10x the jobs)",
                 "value": round(rss_10k / max(rss_1k, 1), 2), "unit": "x", "target": "far below 10x",
                 "met": rss_10k < 3 * rss_1k})
    notes += [
        f"profile {PROFILE}; {JOBS_PER_NAMESPACE} jobs per namespace, {FAILED_PER_NAMESPACE} failed; one run per "
        "figure (each a fresh process)",
        f"logs: the kubelet simulator runs every failed pod (up to {LOGGED_FAILED}) and serves its log through the "
        "apiserver, as a cluster's kubelet does (before e601800 and 1cbd828 it stalled at 246 pods and only 100 ran)",
        "peak RSS is the doctor process's own (getrusage at exit), imports included",
    ]
    return {"name": name, "rows": rows, "notes": notes}


def measure(kubeconfig: Path, jobs: int, notes: list[str]) -> list[dict[str, Any]]:
    label = f"{jobs:,} jobs"
    wall, rss, report, code = doctor(kubeconfig)
    total, by_verb, collect_s, evaluate_s = in_process(kubeconfig)
    if code not in (0, 1):
        notes.append(f"doctor on {label} exited {code}: {report.get('error', '')}")
    checked = (report.get("summary") or {})
    notes.append(f"{label}: report summary {checked}; requests by verb {by_verb}; load average "
                 f"{os.getloadavg()[0]:.1f} (1 min) when measured")
    return [
        {"figure": f"{label}: doctor -A -o json (fresh process, loopback)", "value_s": wall},
        {"figure": f"{label}: peak RSS", "value": round(rss), "unit": "MiB"},
        {"figure": f"{label}: API requests (collect)", "value": total, "unit": "requests"},
        {"figure": f"{label}: in process, reading (collect) / the rules (evaluate)",
         "value": f"{collect_s:.2f} s / {evaluate_s:.2f} s"},
        {"figure": f"{label}: failed jobs attributed from their log", "value": attributed_from_log(report),
         "unit": "jobs"},
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
