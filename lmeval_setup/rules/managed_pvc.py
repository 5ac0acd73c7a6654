"""The PVC the operator creates for a job's outputs (`spec.outputs.pvcManaged`), and why it is unusable: LME040.

What the real controller does (controllers/lmes/storage.go of every line in ../shared/upstream, 2.16 to 3.5):
before scheduling, `handleManagedPVC` gets `<job>-pvc` and, when absent, creates it: ReadWriteOnce, no
storageClassName, `resources.requests.storage: resource.MustParse(pvcManaged.size)`, owned by the job. So:

- a size that is not a Kubernetes quantity (or no size at all: "") makes MustParse panic; controller-runtime
  recovers the panic and requeues forever, so the job never gets a status, a PVC or a pod;
- a size of zero or less is refused by the apiserver ("must be greater than zero"), with the same result;
- the claim names no StorageClass, so the apiserver gives it the cluster's default one at creation; without
  a default StorageClass it keeps none, the persistentvolume controller reports (a Normal FailedBinding
  event) "no persistent volumes available for this claim and no storage class is set", the claim stays
  Pending and the scheduler keeps the pod Pending ("pod has unbound immediate PersistentVolumeClaims");
- any other Warning event on the claim (ProvisioningFailed: a missing StorageClass, a quota, the storage
  backend) says why it is not bound.

The size checks are spec rules (lint and doctor); the claim's state is read by the doctor.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from lmeval_setup.platform.operator_state import parse_time
from lmeval_setup.redact import redact_text
from lmeval_setup.rules.finding import Evidence, Finding, Target

JSON = dict[str, Any]
SIZE_PATH = "spec.outputs.pvcManaged.size"
# k8s.io/apimachinery resource.ParseQuantity: a signed decimal number and one suffix: binary (Ki..Ei),
# decimal (n, u, m, k, M, G, T, P, E) or an exponent (e3, E-2). "1K" or "1GB" are not quantities.
_QUANTITY = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# Dynamic provisioning usually binds a claim within a minute; a claim Pending this long with no Warning
# event on it waits for a provisioner that is not coming.
PENDING_AFTER = timedelta(minutes=5)


def managed_pvc_name(job: JSON) -> str | None:
    """`<job>-pvc` when the job asks the operator for an outputs PVC, else None."""
    outputs = (job.get("spec") or {}).get("outputs") if isinstance(job.get("spec"), dict) else None
    if not isinstance(outputs, dict) or outputs.get("pvcManaged") is None:
        return None
    return f"{(job.get('metadata') or {}).get('name', '')}-pvc"


def size_findings(spec: JSON, target: Target) -> list[Finding]:
    """pvcManaged.size as the controller and the apiserver will take it (a non-string is a schema error)."""
    outputs = spec.get("outputs")
    managed = outputs.get("pvcManaged") if isinstance(outputs, dict) else None
    if not isinstance(managed, dict):
        return []
    size = managed.get("size", "")
    if not isinstance(size, str):
        return []  # LME015: the CRD types it as a string
    shown = size if size else "(not set)"
    if not _QUANTITY.fullmatch(size):
        message = (f"outputs.pvcManaged.size {size!r} is not a Kubernetes quantity (such as 10Gi): the operator's "
                   "resource.MustParse panics on it, so the job never gets its PVC, a pod or a status")
    elif _not_positive(size):
        message = (f"outputs.pvcManaged.size {size!r} is not greater than zero: the apiserver refuses the "
                   "operator's PVC, so the job never gets a pod or a status")
    else:
        return []
    return [Finding(rule_id="LME040", target=target, message=message,
                    evidence=(Evidence(source="spec", text=f"pvcManaged.size: {shown}", path=SIZE_PATH),))]


def _not_positive(quantity: str) -> bool:
    """A parsed quantity's sign: the apiserver wants a claim's storage request greater than zero."""
    number = _NUMBER.match(quantity)
    return number is not None and (number.group().startswith("-") or float(number.group()) == 0)


def claim_findings(job: JSON, pvc: JSON | None, events: list[JSON], target: Target, now: datetime) -> list[Finding]:
    """The managed claim of a job that has not completed, while it is Pending.

    A claim created without storageClassName keeps none only when the cluster had no default StorageClass
    (the apiserver's DefaultStorageClass admission fills it in otherwise): nothing will provision it, so it
    is reported at once. With a class, a Warning event on the claim says why; without one, PENDING_AFTER.
    The persistentvolume controller's own FailedBinding is a Normal event, shown when it was collected."""
    name = managed_pvc_name(job)
    state = ((job.get("status") or {}).get("state")) if isinstance(job.get("status"), dict) else None
    if name is None or pvc is None or state == "Complete":
        return []
    if ((pvc.get("status") or {}).get("phase") or "Pending") != "Pending":
        return []  # Bound; Lost is the storage admin's, and the pod's own events say so
    storage_class = (pvc.get("spec") or {}).get("storageClassName")
    warnings = [e for e in events if e.get("type") == "Warning"]
    created = parse_time((pvc.get("metadata") or {}).get("creationTimestamp"))
    waited = now - created if created else timedelta(0)
    if storage_class and not warnings and waited < PENDING_AFTER:
        return []
    evidence = [Evidence(source="cluster", text=f"persistentvolumeclaim {name}: Pending, storageClassName: "
                         f"{storage_class or '(none)'}", path=f"persistentvolumeclaim/{name}.status.phase")]
    for event in sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))[-3:]:
        text = f"{event.get('reason')}: {redact_text(str(event.get('message') or ''))}"
        evidence.append(Evidence(source="event", text=text, path=f"persistentvolumeclaim/{name}"))
    if not storage_class:
        why = ("it names no StorageClass and the cluster has no default StorageClass, so no volume is "
               "provisioned for it")
    elif warnings:
        why = f"{warnings[-1].get('reason')}: {redact_text(str(warnings[-1].get('message') or ''))}"
    else:
        minutes = int(waited.total_seconds() // 60)
        why = f"StorageClass {storage_class!r} has not provisioned a volume in {minutes} minutes"
    message = f"the outputs PVC {name!r} the operator created is Pending: {why}; the job's pod cannot start"
    return [Finding(rule_id="LME040", target=target, message=message, evidence=tuple(evidence))]

