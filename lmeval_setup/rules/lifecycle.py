"""Lifecycle detectors: what the cluster does to an evaluation pod between "created" and "results".

Each reads one object state the real controller and kubelet produce (field names and messages from
../shared/upstream/trustyai-service-operator controllers/lmes and Kubernetes' own pod status):
- eviction: the kubelet sets pod `status.reason: Evicted` and a message naming the resource
  ("The node was low on resource: ephemeral-storage ...") -> LME036;
- the `driver` init container (it copies the driver binary into the pod) ended non-zero or crash-loops
  -> LME037 (image pull and OOM stay LME019 / LME020, rules/pods.py);
- Kueue: a job labelled kueue.x-k8s.io/queue-name that is still `Suspended` (spec.suspend true, waiting
  for its ClusterQueue to admit it) after STUCK_AFTER -> LME034; at once when its Workload (doctor/kueue.py)
  says Kueue cannot admit it: QuotaReserved False, "Inadmissible" (no LocalQueue / ClusterQueue, or inactive)
  or a pod set that does not fit the ClusterQueue's quota at all ("insufficient quota for");
- a `Running` job whose status (the driver's progress bars) nobody wrote for STALLED_AFTER, read from the
  newest managedFields time of the status subresource -> LME024;
- a `Complete` job whose pod still runs (the controller's --shutdown exec did not end `main`), holding its
  GPUs -> LME039. On every line (handleComplete of 2.16, 2.22, 2.25 and 3.5) the controller writes
  completeTime only once its `driver --shutdown` exec succeeded, so a succeeded job without one for
  SHUTDOWN_GRACE is a shutdown the controller keeps retrying: collection reads its pod (shutdown_overdue).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lmeval_setup.redact import redact_text
from lmeval_setup.rules import status as S
from lmeval_setup.rules.finding import Evidence, Finding, Target

JSON = dict[str, Any]
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# lm-eval's progress bars move at least every few minutes even on slow endpoints (the driver writes a bar
# when its percent, count or title changes); 15 minutes of silence is a hang, not a slow model.
STALLED_AFTER = timedelta(minutes=15)
# The controller polls a finished pod every 10 s and ends it with `driver --shutdown`; give it time.
SHUTDOWN_GRACE = timedelta(minutes=5)


def lifecycle_findings(job: JSON, pod: JSON | None, target: Target, now: datetime,
                       workload: JSON | None = None) -> list[Finding]:
    out: list[Finding] = []
    if pod is not None:
        out.extend(_evicted(pod, target))
        out.extend(_driver_init_failed(pod, target))
        out.extend(_pod_not_shut_down(job, pod, target, now))
    out.extend(_kueue_waiting(job, target, now, workload))
    out.extend(_stalled_running(job, pod, target, now))
    return out


def _pod_name(pod: JSON) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def _evicted(pod: JSON, target: Target) -> list[Finding]:
    status = pod.get("status") or {}
    if status.get("reason") != "Evicted":
        return []
    message = redact_text(str(status.get("message") or "Evicted"))
    return [Finding("LME036", target, message=f"pod {_pod_name(pod)!r} was evicted: {message}",
                    evidence=(Evidence("pod", f"Evicted: {message}", path=f"pod/{_pod_name(pod)}.status.reason"),))]


def _driver_init_failed(pod: JSON, target: Target) -> list[Finding]:
    for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
        if cs.get("name") != "driver":
            continue
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
        path = f"pod/{_pod_name(pod)}.status.initContainerStatuses[driver]"
        if terminated.get("reason") == "OOMKilled":
            return []  # LME020 (rules/pods.py)
        if waiting.get("reason") == "CrashLoopBackOff" or terminated.get("exitCode") not in (None, 0):
            code = terminated.get("exitCode")
            detail = redact_text(str(terminated.get("message") or waiting.get("message") or ""))[:300]
            text = ", ".join(p for p in (waiting.get("reason", ""), f"exit code {code}" if code is not None else "",
                                          detail) if p)
            return [Finding("LME037", target, message=f"the driver init container failed ({text})",
                            evidence=(Evidence("pod", text, path=path),))]
    return []


def _main_running(pod: JSON) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == "main":
            return bool((cs.get("state") or {}).get("running"))
    return False


def shutdown_overdue(job: JSON, now: datetime) -> bool:
    """Complete for SHUTDOWN_GRACE without completeTime: the controller's `driver --shutdown` exec keeps failing
    (it writes completeTime only after one succeeded), so the pod is probably still running. The job's status
    alone says "Succeeded": without this, collection would treat the job as healthy and never read its pod."""
    status = S.job_status(job)
    if status.get("state") != "Complete" or status.get("completeTime"):
        return False
    written = last_status_write(job)
    return written is not None and now - written >= SHUTDOWN_GRACE


def _pod_not_shut_down(job: JSON, pod: JSON, target: Target, now: datetime) -> list[Finding]:
    status = S.job_status(job)
    if status.get("state") != "Complete" or not _main_running(pod):
        return []
    # A Complete job without completeTime whose main still runs is a shutdown the controller keeps retrying,
    # counted from the Complete write (shutdown_overdue).
    done = S.parse_time(status.get("completeTime")) or last_status_write(job)
    if done is None or now - done < SHUTDOWN_GRACE:
        return []
    minutes = int((now - done).total_seconds() // 60)
    complete_time = status.get("completeTime") or "not set"
    return [Finding("LME039", target,
                    message=f"the job completed {minutes} minutes ago but its pod {_pod_name(pod)!r} still runs",
                    evidence=(Evidence("status", f"state: Complete, completeTime: {complete_time}",
                                       path="status.completeTime"),
                              Evidence("pod", "main: running",
                                       path=f"pod/{_pod_name(pod)}.status.containerStatuses[main]")))]


def _quota_not_reserved(workload: JSON | None) -> JSON | None:
    """The Workload's QuotaReserved condition when Kueue has set it False (why it is not admitted)."""
    for condition in ((workload or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "QuotaReserved" and condition.get("status") == "False":
            return dict(condition)
    return None


def _kueue_cannot_admit(condition: JSON | None) -> bool:
    """Kueue's verdict is final until someone changes a queue: no LocalQueue/ClusterQueue (or an inactive one),
    or a pod set larger than the ClusterQueue's whole quota (flavorassigner's NoFit wording)."""
    if condition is None:
        return False
    return condition.get("reason") == "Inadmissible" or "insufficient quota for" in str(condition.get("message"))


def _kueue_waiting(job: JSON, target: Target, now: datetime, workload: JSON | None = None) -> list[Finding]:
    meta = job.get("metadata") or {}
    queue = (meta.get("labels") or {}).get(KUEUE_QUEUE_LABEL)
    status = S.job_status(job)
    suspended = status.get("state") == "Suspended" or (job.get("spec") or {}).get("suspend") is True
    if not queue or not suspended or status.get("state") == "Complete":
        return []
    condition = _quota_not_reserved(workload)
    since = S.parse_time(meta.get("creationTimestamp"))
    if not _kueue_cannot_admit(condition) and (since is None or now - since < S.STUCK_AFTER):
        return []
    evidence = [Evidence("spec", f"{KUEUE_QUEUE_LABEL}: {queue}", path="metadata.labels"),
                Evidence("status", f"state: {status.get('state') or 'New'}, spec.suspend: "
                         f"{(job.get('spec') or {}).get('suspend')}", path="status.state")]
    if condition is not None:
        name = (workload or {}).get("metadata", {}).get("name", "")
        text = redact_text(f"QuotaReserved False, {condition.get('reason')}: {condition.get('message')}")
        evidence.append(Evidence("cluster", text, path=f"workload/{name}.status.conditions[QuotaReserved]"))
        why = redact_text(str(condition.get("message")))
        message = f"Kueue does not admit the job from LocalQueue {queue!r}: {why}"
    else:
        minutes = int((now - since).total_seconds() // 60) if since is not None else 0
        message = f"the job has waited {minutes} minutes for Kueue to admit it from LocalQueue {queue!r}"
    return [Finding("LME034", target, message=message, evidence=tuple(evidence))]


def last_status_write(job: JSON) -> datetime | None:
    """When the job's status was last written (by the controller copying the driver's progress)."""
    times = [S.parse_time(e.get("time")) for e in (job.get("metadata") or {}).get("managedFields") or []
             if e.get("subresource") == "status"]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _stalled_running(job: JSON, pod: JSON | None, target: Target, now: datetime) -> list[Finding]:
    status = S.job_status(job)
    if status.get("state") != "Running":
        return []
    written = last_status_write(job)
    if written is None or now - written < STALLED_AFTER:
        return []
    minutes = int((now - written).total_seconds() // 60)
    bars = status.get("progressBars") or []
    last = bars[-1] if bars and isinstance(bars[-1], dict) else {}
    progress = " ".join(str(last.get(k)) for k in ("message", "percent", "count") if last.get(k)) or "none"
    where = f"its pod is {((pod or {}).get('status') or {}).get('phase', 'gone')}" if pod is not None else (
        "its pod does not exist")
    return [Finding("LME024", target,
                    message=f"the job is Running but its progress has not moved for {minutes} minutes ({where})",
                    evidence=(Evidence("status",
                                       f"last progress: {progress}; status last written {written.isoformat()}",
                                       path="status.progressBars"),))]
