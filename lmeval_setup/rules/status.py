"""Status detectors: what an LMEvalJob's `.status` says, and whether the job is stuck.

Facts from ../shared/reference/trustyai-operator.md §1.2-§4: the controller copies a container's waiting or
terminated reason into `.status.message` (`isContainerFailed`), rejects bad input with `Input validation
failed: ...` before creating a pod, and reports every lm-eval crash as `exit status 1` (the cause is only in the
pod log, which the log detectors read). Jobs that never leave `Scheduled` are not reported by the operator at all.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from lmeval_setup.platform.operator_state import parse_time  # the one RFC 3339 reader
from lmeval_setup.redact import redact_text
from lmeval_setup.rules.finding import Evidence, Finding, Target
from lmeval_setup.rules.guarded import GuardedPattern
from lmeval_setup.rules.operator_messages import rule_for_status_message

JSON = dict[str, Any]
# Long enough for image pulls and the operator's 10 s polling; short enough to be useful while debugging.
STUCK_AFTER = timedelta(minutes=10)
LMEVAL_KIND = "LMEvalJob"

# Compiled when a message first needs them, searched only in a message holding their literal (rules.guarded).
_STATUS_MESSAGES: tuple[tuple[GuardedPattern, str, str], ...] = (
    (GuardedPattern(r"^Input validation failed: (?P<detail>.*)", re.S), "LME015",
     "the operator rejected the job before creating a pod: {detail}"),
    (GuardedPattern(r"fetching external git tasks is not allowed when allowOnline is false"), "LME001",
     "custom tasks from git need online access, which this job does not have"),
    (GuardedPattern(r"^(?:OOMKilled|signal: killed)$"), "LME020", "the evaluation container was killed ({message})"),
    (GuardedPattern(r"^(?:ImagePullBackOff|ErrImagePull|InvalidImageName)$"), "LME019",
     "the evaluation image cannot be pulled ({message})"),
    (GuardedPattern(r"^CreateContainerConfigError$"), "LME022",
     "the container cannot start: a referenced Secret or ConfigMap (or key) is missing"),
    (GuardedPattern(r"job requires kueue\.x-k8s\.io/queue-name label"), "LME034",
     "the job needs the kueue.x-k8s.io/queue-name label on this cluster"),
    # The controller's pod create was denied; it copies the apiserver's Forbidden into status.message.
    (GuardedPattern(r"is forbidden: exceeded quota"), "LME038", "a ResourceQuota refused the pod: {message}"),
    (GuardedPattern(r"is forbidden: (?:\[)?(?:minimum|maximum) \S+ usage per|is forbidden: .*LimitRange"), "LME038",
     "a LimitRange refused the pod: {message}"),
    (GuardedPattern(r"is forbidden: unable to validate against any security context constraint"), "LME038",
     "no SecurityContextConstraint admits the pod: {message}"),
    (GuardedPattern(r"is forbidden: violates PodSecurity"), "LME038",
     "Pod Security admission refused the pod: {message}"),
    (GuardedPattern(r"exceeded quota"), "LME038", "a ResourceQuota refused the pod: {message}"),
    # getPod's error when the pod was deleted (the controller also emits a PodMissing event).
    (GuardedPattern(r'^pods "[^"]+" not found$'), "LME036", "the job's pod was deleted: {message}"),
)


def job_target(job: JSON) -> Target:
    meta = job.get("metadata") or {}
    return Target(kind=LMEVAL_KIND, name=str(meta.get("name", "")), namespace=meta.get("namespace"))


def job_status(job: JSON) -> JSON:
    status = job.get("status")
    return status if isinstance(status, dict) else {}


def is_failed(job: JSON) -> bool:
    status = job_status(job)
    return status.get("state") == "Complete" and status.get("reason") == "Failed"


def classify_status_message(message: str) -> tuple[str, str] | None:
    """A failed job's `.status.message` -> (rule, explanation); None when only the log can tell."""
    text = message.strip()
    for pattern, rule_id, explanation in _STATUS_MESSAGES:
        m = pattern.search(text)
        if m:
            return rule_id, explanation.format(message=text, **m.groupdict())
    # Every other message the real controller or driver writes (rules/operator_messages.py, extracted from
    # the operator sources of every release line).
    operator_rule = rule_for_status_message(text)
    if operator_rule:
        return operator_rule, f"the operator reported: {redact_text(text)}"
    return None


def referenced_pvcs(job: JSON) -> list[tuple[str, str]]:
    """(claim name, field path) of the PVCs a job expects to exist (managed PVCs are created for it)."""
    spec = job.get("spec") or {}
    out = []
    outputs = spec.get("outputs") or {}
    if isinstance(outputs, dict) and outputs.get("pvcName") and not outputs.get("pvcManaged"):
        out.append((str(outputs["pvcName"]), "spec.outputs.pvcName"))
    storage = ((spec.get("offline") or {}).get("storage") or {}) if isinstance(spec.get("offline"), dict) else {}
    if isinstance(storage, dict) and storage.get("pvcName"):
        out.append((str(storage["pvcName"]), "spec.offline.storage.pvcName"))
    return out


def status_findings(
    job: JSON, *, pod: JSON | None, pvcs: set[str] | None, now: datetime, explained: bool = False
) -> list[Finding]:
    """Findings from the job's status and age. `explained`: a pod rule already says why it is stuck."""
    target = job_target(job)
    status = job_status(job)
    findings: list[Finding] = []
    message = str(status.get("message") or "")
    if is_failed(job) and message:
        classified = classify_status_message(message)
        if classified:
            rule_id, explanation = classified
            findings.append(Finding(rule_id, target, message=explanation,
                                    evidence=(Evidence("status", redact_text(message), path="status.message"),)))
    findings.extend(_missing_pvcs(job, target, pvcs))
    findings.extend(_results_missing(job, target))
    if not findings and not explained:
        stuck = _stuck(job, target, pod, now)
        if stuck is not None:
            findings.append(stuck)
    return findings


def _missing_pvcs(job: JSON, target: Target, pvcs: set[str] | None) -> list[Finding]:
    if pvcs is None or job_status(job).get("state") == "Complete":
        return []
    return [
        Finding("LME025", target, message=f"PersistentVolumeClaim {name!r} does not exist in {target.namespace}",
                evidence=(Evidence("spec", f"{path.rsplit('.', 1)[-1]}: {name}", path=path),))
        for name, path in referenced_pvcs(job) if name not in pvcs
    ]


def succeeded_without_results(job: JSON) -> bool:
    """The controller read the driver's status between "Complete" and the results (the driver sets them in that
    order), or lm-eval wrote no results file: LME041, and provision's failure."""
    status = job_status(job)
    return status.get("state") == "Complete" and status.get("reason") == "Succeeded" and not status.get("results")


def _results_missing(job: JSON, target: Target) -> list[Finding]:
    if not succeeded_without_results(job):
        return []
    message = redact_text(str(job_status(job).get("message") or ""))
    return [Finding("LME041", target, message="the job Succeeded but its status holds no results",
                    evidence=(Evidence("status", f"state: Complete, reason: Succeeded, message: {message!r}, "
                                                 "no results", path="status.results"),))]


def _stuck(job: JSON, target: Target, pod: JSON | None, now: datetime) -> Finding | None:
    """Scheduled (or never picked up) for longer than STUCK_AFTER with nothing else explaining it."""
    status = job_status(job)
    state = status.get("state") or "New"
    if state not in ("New", "Scheduled"):
        return None
    since = parse_time(status.get("lastScheduleTime")) or parse_time((job.get("metadata") or {}).get(
        "creationTimestamp"))
    if since is None or now - since < STUCK_AFTER:
        return None
    minutes = int((now - since).total_seconds() // 60)
    if state == "New":
        text = "the operator never scheduled the job (no status)"
    elif pod is None:
        text = f"the job is Scheduled but its pod {status.get('podName') or target.name!r} does not exist"
    else:
        phase = (pod.get("status") or {}).get("phase", "")
        text = f"the job is Scheduled, its pod is {phase or 'in an unknown phase'}"
    return Finding("LME024", target, message=f"{text} for {minutes} minutes",
                   evidence=(Evidence("status", f"state: {state}", path="status.state"),))


def utcnow() -> datetime:
    return datetime.now(UTC)
