"""Kueue in the sandbox: its real CRDs, and the Workload state its controllers write, for the operator's job manager.

The TrustyAI operator's JOB_MGR service (the manifests' odh-kueue overlay) is Kueue's own job framework
(sigs.k8s.io/kueue pkg/controller/jobframework) run inside the TrustyAI manager: for an LMEvalJob labelled
kueue.x-k8s.io/queue-name it creates a Workload and keeps the job suspended until the Workload is admitted. It
needs Kueue's CRDs, which `install_crds` applies from the Kueue module the operator line is built with (the Go
module cache, or the Go module proxy through `go mod download`): v0.6.2 (kueue.x-k8s.io/v1beta1) for rhoai
2.16-3.3. (rhoai-3.5's manager imports v0.16 and its job manager indexes v1beta2 Workloads, which its scheme does
not register: it exits at start with JOB_MGR, "workload indexer: no kind is registered for the type
v1beta2.Workload"; that line cannot run Kueue at all.)

No Kueue controller runs here (its manager needs its webhooks, certificates and configuration). What it would
write when it cannot admit a Workload is written by `mark_inadmissible` exactly as Kueue v0.6.2 writes it
(pkg/workload UnsetQuotaReservationWithCondition: condition QuotaReserved=False with the reason and message of
pkg/controller/core/workload_controller.go for a missing LocalQueue or ClusterQueue, or of the scheduler
(pkg/scheduler/scheduler.go, flavorassigner) for a quota the pod set does not fit, reason "Pending").
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmeval_setup.kube.client import Kube, resource_path

JSON = dict[str, Any]
GROUP = "kueue.x-k8s.io"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
MODULE = "sigs.k8s.io/kueue"
VERSION_FOR_API = {"v1beta1": "v0.6.2"}  # the Kueue module of the operator lines whose job manager can run
CRD_DIR = "config/components/crd/bases"
FIELD_MANAGER = "kueue-admission"  # what Kueue's controllers apply Workload status as

# Kueue v0.6.2's words (see the module docstring for where each comes from).
def local_queue_missing(queue: str) -> tuple[str, str]:
    return "Inadmissible", f"LocalQueue {queue} doesn't exist"


def cluster_queue_missing(cluster_queue: str) -> tuple[str, str]:
    return "Inadmissible", f"ClusterQueue {cluster_queue} doesn't exist"


def quota_too_small(pod_set: str, resource: str, flavor: str) -> tuple[str, str]:
    return "Pending", (f"couldn't assign flavors to pod set {pod_set}: insufficient quota for {resource} in flavor "
                       f"{flavor} in ClusterQueue")


def module_dir(version: str) -> Path | None:
    """The Kueue module's source: the Go module cache, else `go mod download` (the Go module proxy)."""
    cache = os.environ.get("GOMODCACHE") or _go_env("GOMODCACHE")
    if cache and (Path(cache) / f"{MODULE}@{version}" / CRD_DIR).is_dir():
        return Path(cache) / f"{MODULE}@{version}"
    try:
        done = subprocess.run(["go", "mod", "download", "-json", f"{MODULE}@{version}"], capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        found = Path(json.loads(done.stdout).get("Dir") or "")
    except ValueError:
        return None
    return found if (found / CRD_DIR).is_dir() else None


def _go_env(name: str) -> str:
    try:
        return subprocess.run(["go", "env", name], capture_output=True, text=True, timeout=60,
                              check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def install_crds(kube: Kube, source: Path) -> list[str]:
    """Server-side apply every Kueue CRD of `source` (a Kueue module directory); their names."""
    import yaml

    from lmeval_setup.sandbox.profiles import CRD_PATH, apply, wait_established

    names = []
    for path in sorted((source / CRD_DIR).glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        apply(kube, f"{CRD_PATH}/{crd['metadata']['name']}", crd)
        names.append(str(crd["metadata"]["name"]))
    wait_established(kube, names, timeout=60.0)
    return names


def workloads_of(kube: Kube, api_version: str, namespace: str, job: str) -> list[JSON]:
    """The Workloads the job manager made for an LMEvalJob (owner reference)."""
    items = kube.get(resource_path(GROUP, api_version, "workloads", namespace)).get("items", [])
    return [w for w in items if any(o.get("kind") == "LMEvalJob" and o.get("name") == job
                                    for o in (w.get("metadata") or {}).get("ownerReferences") or [])]


def mark_inadmissible(kube: Kube, workload: JSON, reason: str, message: str) -> JSON:
    """Write what Kueue writes on a Workload it cannot admit: QuotaReserved False (server-side apply of status)."""
    meta = workload["metadata"]
    condition = {"type": "QuotaReserved", "status": "False", "reason": reason, "message": message,
                 "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "observedGeneration": meta.get("generation", 1)}
    body = {"apiVersion": workload["apiVersion"], "kind": "Workload",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "status": {"conditions": [condition]}}
    path = resource_path(GROUP, workload["apiVersion"].split("/")[-1], "workloads", meta["namespace"], meta["name"])
    result: JSON = kube.request("PATCH", f"{path}/status", body=json.dumps(body),
                                content_type="application/apply-patch+yaml",
                                query={"fieldManager": FIELD_MANAGER, "force": "true"})
    return result
