"""Plain-dict cluster states for the doctor's unit tests (no apiserver): a Snapshot per release profile."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import CRD_GROUP, CRD_PLURAL

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
JSON = dict[str, Any]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def cluster_snapshot(
    profile: str = "rhoai-2.22",
    *,
    trustyai: str = "Managed",
    cm_data: dict[str, str] | None = None,
    cm_annotations: dict[str, str] | None = None,
    cm_changed: datetime | None = None,
    dsc_permit: dict[str, str] | None = None,
    operator_replicas: int = 1,
    pod_started: datetime | None = None,
    pod_annotations: dict[str, str] | None = None,
    kserve: bool = True,
    kueue: str | None = None,
    conditions: list[JSON] | None = None,
) -> Snapshot:
    p = R.PROFILES[profile]
    release = p.release
    ns = release.default_applications_namespace
    version = release.dsc_versions[-1]
    snap = Snapshot(collected_at=NOW, scope={"all_namespaces": True})
    snap.served[R.DSC_GROUP] = list(reversed(release.dsc_versions))
    snap.served[R.DSCI_GROUP] = ["v1"]
    components: JSON = {"trustyai": {"managementState": trustyai}}
    if dsc_permit is not None:
        components["trustyai"]["eval"] = {"lmeval": dict(dsc_permit)}
    if kueue:
        components["kueue"] = {"managementState": kueue}
    snap.add(R.DSC_GROUP, "datascienceclusters", {
        "apiVersion": f"{R.DSC_GROUP}/{version}", "kind": "DataScienceCluster",
        "metadata": {"name": "default-dsc"},
        "spec": {"components": components},
        "status": {"release": {"name": release.release_name, "version": p.version}, "conditions": conditions or []},
    })
    snap.mark_collected(R.DSC_GROUP, "datascienceclusters", "")
    snap.add(R.DSCI_GROUP, "dscinitializations", {
        "apiVersion": f"{R.DSCI_GROUP}/v1", "kind": "DSCInitialization", "metadata": {"name": "default-dsci"},
        "spec": {"applicationsNamespace": ns},
    })
    if kserve:
        snap.add(CRD_GROUP, CRD_PLURAL, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                                         "metadata": {"name": R.KSERVE_ISVC_CRD}})
    else:
        snap.absent.add((CRD_GROUP, CRD_PLURAL, "", R.KSERVE_ISVC_CRD))
    created = NOW - timedelta(days=1)
    data = dict(release.lmes_defaults)
    data.update(cm_data or {})
    managed = [{"manager": "trustyai", "operation": "Apply", "time": iso(created),
                "fieldsV1": {"f:data": {f"f:{k}": {} for k in release.lmes_defaults}}}]
    if cm_changed is not None:
        managed.append({"manager": "kubectl-patch", "operation": "Update", "time": iso(cm_changed),
                        "fieldsV1": {"f:data": {f"f:{k}": {} for k in (cm_data or {})}}})
    snap.add("", "configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": R.OPERATOR_CONFIGMAP, "namespace": ns, "annotations": dict(cm_annotations or {}),
                     "managedFields": managed, "creationTimestamp": iso(created)},
        "data": data,
    })
    if release.permissions_read_per_job:
        permit = dsc_permit or {}
        snap.add("", "configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": R.DSC_CONFIGMAP, "namespace": ns},
            "data": {R.DSC_CM_ONLINE: str(permit.get("permitOnline") == "allow").lower(),
                     R.DSC_CM_CODE: str(permit.get("permitCodeExecution") == "allow").lower()},
        })
    labels = dict(release.operator_pod_labels)
    snap.add("apps", "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": R.OPERATOR_DEPLOYMENT, "namespace": ns},
        "spec": {"replicas": operator_replicas, "selector": {"matchLabels": labels}},
        "status": {"availableReplicas": operator_replicas} if operator_replicas else {},
    })
    if operator_replicas:
        snap.add("", "pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "trustyai-operator-abc", "namespace": ns, "labels": labels, "uid": "u1",
                         "annotations": dict(pod_annotations or {})},
            "status": {"phase": "Running", "startTime": iso(pod_started or created + timedelta(minutes=5)),
                       "conditions": [{"type": "Ready", "status": "True"}]},
        })
    return snap


def lmevaljob(name: str = "evaljob", namespace: str = "demo", **spec: Any) -> JSON:
    args = [("model", "granite"), ("base_url", "http://granite-predictor.demo.svc.cluster.local:8080/v1/completions"),
            ("tokenizer", "ibm-granite/granite-3.1-8b-instruct"), ("num_concurrent", "1"), ("max_retries", "3"),
            ("timeout", "300")]
    body: JSON = {"model": "local-completions", "taskList": {"taskNames": ["gsm8k"]},
                  "modelArgs": [{"name": k, "value": v} for k, v in args]}
    body.update(spec)
    return {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": iso(NOW - timedelta(hours=1))},
            "spec": body}


def with_status(job: JSON, **status: Any) -> JSON:
    out = copy.deepcopy(job)
    out["status"] = {"podName": job["metadata"]["name"], **status}
    return out


DRIVER_DONE: JSON = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
MAIN_FAILED: JSON = {"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}


def pod(name: str = "evaljob", namespace: str = "demo", *, main: JSON | None = None, driver: JSON | None = None,
        env: list[JSON] | None = None, phase: str = "Failed", conditions: list[JSON] | None = None) -> JSON:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "env": env or []}], "initContainers": [{"name": "driver"}]},
        "status": {
            "phase": phase, "conditions": conditions or [],
            "initContainerStatuses": [{"name": "driver", **(driver or DRIVER_DONE)}],
            "containerStatuses": [{"name": "main", **(main or MAIN_FAILED)}],
        },
    }


def add_job(snap: Snapshot, job: JSON, job_pod: JSON | None = None, main_log: str | None = None) -> None:
    ns = job["metadata"]["namespace"]
    snap.add(R.LMEVAL_GROUP, "lmevaljobs", job)
    if job_pod is not None:
        snap.add("", "pods", job_pod)
    if main_log is not None:
        snap.logs[(ns, job["metadata"]["name"], "main")] = main_log


OFFLINE_LOG_TEXT = ("Traceback (most recent call last):\n"
                    "ConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)\n")
