"""Kueue evidence: the Workload behind a suspended, Kueue-managed LMEvalJob.

With the operator's Kueue job manager (JOB_MGR), a job labelled kueue.x-k8s.io/queue-name stays suspended until
Kueue admits the Workload the job manager made for it (owner reference to the job). Why it is not admitted is
only on that Workload: Kueue sets its QuotaReserved condition False with the reason ("Inadmissible": the
LocalQueue or its ClusterQueue does not exist, or is inactive; "Pending": the scheduler could not fit the pod
set, e.g. "insufficient quota for cpu in flavor ... in ClusterQueue"). The doctor lists the Workloads of a
namespace only when it has such a job (one LIST per namespace, either served API version); an identity that may
not read them, or a cluster without Kueue, loses only this evidence.
"""

from __future__ import annotations

from collections.abc import Iterable

from lmeval_setup.doctor.snapshot import JSON, Snapshot
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.rules import status as S
from lmeval_setup.rules.lifecycle import KUEUE_QUEUE_LABEL

GROUP = "kueue.x-k8s.io"
PLURAL = "workloads"
API_VERSIONS = ("v1beta2", "v1beta1")  # Kueue >= 0.15 serves v1beta2; the 2.x/3.0-3.3 operators' v0.6 v1beta1


def waits_for_kueue(job: JSON) -> bool:
    """Labelled for a Kueue queue, suspended (spec.suspend or state Suspended) and not finished."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    status = S.job_status(job)
    suspended = status.get("state") == "Suspended" or (job.get("spec") or {}).get("suspend") is True
    return bool(labels.get(KUEUE_QUEUE_LABEL)) and suspended and status.get("state") != "Complete"


def collect_workloads(kube: Kube, snapshot: Snapshot, jobs: Iterable[JSON]) -> None:
    """List the Workloads of every namespace with a job waiting for Kueue (first served version wins)."""
    namespaces = sorted({str(j["metadata"].get("namespace") or "") for j in jobs if waits_for_kueue(j)})
    for ns in namespaces:
        for version in API_VERSIONS:
            try:
                items = kube.get(resource_path(GROUP, version, PLURAL, ns)).get("items", [])
            except ApiError as exc:
                if exc.status == 404:  # this version (or Kueue) is not served: try the next
                    continue
                break  # 403 and the like: the job's own findings stand without it
            for item in items:  # as a must-gather stores them, so --from-dir reads them back
                item.setdefault("apiVersion", f"{GROUP}/{version}")
                item.setdefault("kind", "Workload")
            snapshot.add_all(GROUP, PLURAL, items, ns)
            break


def workload_for(snapshot: Snapshot, job: JSON) -> JSON | None:
    """The Workload the job manager made for `job` (owner reference), if it was collected."""
    meta = job.get("metadata") or {}
    ns, name = meta.get("namespace") or "", meta.get("name")
    for workload in snapshot.list(GROUP, "", PLURAL, ns):
        owners = (workload.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("kind") == "LMEvalJob" and o.get("name") == name for o in owners):
            return workload
    return None
