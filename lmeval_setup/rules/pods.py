"""Pod detectors: the evaluation pod's container states, scheduling condition and events.

The operator only watches the `main` container; an init container (`driver`) stuck in ImagePullBackOff, a
pod that cannot be scheduled or a missing Secret leave the job `Scheduled` with no message
(../shared/reference/trustyai-operator.md §4 D). So we read the pod directly: waiting/terminated reasons of
every container (init ones included), the PodScheduled condition, and Warning events for the pod.
"""

from __future__ import annotations

import re
from typing import Any

from lmeval_setup.redact import redact_text
from lmeval_setup.rules.finding import Evidence, Finding, Target

JSON = dict[str, Any]

_WAITING_RULES = {
    "ImagePullBackOff": "LME019", "ErrImagePull": "LME019", "InvalidImageName": "LME019",
    "CreateContainerConfigError": "LME022",
}
_EVENT_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("FailedScheduling", re.compile(r"persistentvolumeclaim \"[^\"]+\" not found"), "LME025"),
    ("FailedScheduling", re.compile(r"."), "LME021"),
    ("FailedMount", re.compile(r"persistentvolumeclaim \"[^\"]+\" not found"), "LME025"),
    ("FailedMount", re.compile(r"(?:secret|configmap)s? \"[^\"]+\" not found", re.I), "LME022"),
    ("Failed", re.compile(r"ErrImagePull|ImagePullBackOff|Failed to pull image|InvalidImageName"), "LME019"),
    ("Failed", re.compile(r"CreateContainerConfigError|(?:secret|configmap) \"[^\"]+\" not found", re.I), "LME022"),
    ("BackOff", re.compile(r"Back-off pulling image"), "LME019"),
)
OFFLINE_ENV = "HF_HUB_OFFLINE"
CODE_ENV = "HF_DATASETS_TRUST_REMOTE_CODE"


def _statuses(pod: JSON) -> list[tuple[str, str, JSON]]:
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            out.append((key, str(cs.get("name", "")), cs))
    return out


def pod_findings(pod: JSON, events: list[JSON], target: Target) -> list[Finding]:
    """Findings about one evaluation pod, reported against its LMEvalJob."""
    name = (pod.get("metadata") or {}).get("name", "")
    findings: list[Finding] = []
    for key, container, cs in _statuses(pod):
        findings.extend(_container_findings(name, key, container, cs, target))
    findings.extend(_scheduling(pod, name, target))
    findings.extend(_event_findings(events, target))
    return findings


def _container_findings(pod: str, key: str, container: str, cs: JSON, target: Target) -> list[Finding]:
    out = []
    waiting = (cs.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason", "")
    rule_id = _WAITING_RULES.get(reason)
    path = f"pod/{pod}.status.{key}[{container}].state.waiting"
    if rule_id:
        detail = redact_text(str(waiting.get("message") or ""))
        text = f"{reason}: {detail}" if detail else reason
        what = "image cannot be pulled" if rule_id == "LME019" else "cannot start (missing Secret/ConfigMap or key)"
        out.append(Finding(rule_id, target, message=f"container {container!r} {what}",
                           evidence=(Evidence("pod", text, path=path),)))
    for state_key in ("state", "lastState"):
        terminated = (cs.get(state_key) or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            code = terminated.get("exitCode", 137)
            out.append(Finding(
                "LME020", target, message=f"container {container!r} was OOMKilled (exit code {code})",
                evidence=(Evidence("pod", "OOMKilled",
                                   path=f"pod/{pod}.status.{key}[{container}].{state_key}.terminated"),),
            ))
            break
    return out


def _scheduling(pod: JSON, name: str, target: Target) -> list[Finding]:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get(
                "reason") == "Unschedulable":
            message = redact_text(str(cond.get("message") or "Unschedulable"))
            rule_id = "LME025" if re.search(r"persistentvolumeclaim \"[^\"]+\" not found", message) else "LME021"
            return [Finding(rule_id, target, message=f"pod {name!r} cannot be scheduled: {message}",
                            evidence=(Evidence("pod", message, path=f"pod/{name}.status.conditions[PodScheduled]"),))]
    return []


def _event_findings(events: list[JSON], target: Target) -> list[Finding]:
    out = []
    for event in events:
        if event.get("type") != "Warning":
            continue
        reason = str(event.get("reason") or "")
        message = str(event.get("message") or "")
        for event_reason, pattern, rule_id in _EVENT_RULES:
            if reason == event_reason and pattern.search(message):
                text = redact_text(f"{reason}: {message}")[:300]
                out.append(Finding(rule_id, target, message=text,
                                   evidence=(Evidence("event", text, path=f"event/{reason}"),)))
                break
    return out


def env_value(pod: JSON, container: str, name: str) -> str | None:
    """A literal env value of a container in the pod spec (what the operator actually set)."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") != container:
            continue
        for var in c.get("env") or []:
            if var.get("name") == name:
                return str(var.get("value")) if "value" in var else None
    return None


def runs_offline(pod: JSON) -> bool:
    return env_value(pod, "main", OFFLINE_ENV) == "1"


def code_execution_blocked(pod: JSON) -> bool:
    return env_value(pod, "main", CODE_ENV) == "0"


def needed_logs(pod: JSON | None, job_failed: bool, job_stuck: bool) -> list[str]:
    """Which containers' logs explain this pod: `main` when lm-eval ran and failed (or the job hangs),
    `driver` when the init container itself failed. Healthy pods need none."""
    if pod is None:
        return []
    wanted = []
    for key, container, cs in _statuses(pod):
        state = cs.get("state") or {}
        last = cs.get("lastState") or {}
        terminated = state.get("terminated") or last.get("terminated") or {}
        crashed = bool(terminated) and (terminated.get("exitCode") not in (0, None) or terminated.get(
            "reason") not in (None, "Completed"))
        if key == "initContainerStatuses" and container == "driver" and crashed:
            wanted.append("driver")
        if key == "containerStatuses" and container == "main":
            started = bool(state.get("running") or terminated)
            if started and (job_failed or job_stuck or crashed):
                wanted.append("main")
    return wanted
