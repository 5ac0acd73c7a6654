"""Operator-side evidence: what the TrustyAI manager logged about a job whose own status says little.

A job stuck without a message (LME024), or whose pod vanished or whose driver failed, is often explained
only in the manager's log: "Reconciler error" with the create error, "unable to retrieve the status from
the job's pod" when pods/exec is refused, "failed to prepare CA bundle". The doctor reads a bounded tail
of the operator pod's `manager` log, once, only when such a job exists, and attaches the last lines that
name the job (its name and namespace on one line, as controller-runtime logs them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from lmeval_setup.doctor.snapshot import JSON, Snapshot
from lmeval_setup.platform import releases as R
from lmeval_setup.rules import lifecycle as LC
from lmeval_setup.rules import status as S
from lmeval_setup.rules.finding import Evidence, Finding

OPERATOR_LOG_TAIL_LINES = 2000
OPERATOR_LOG_LIMIT_BYTES = 1024 * 1024
LINES_PER_JOB = 5
MAX_LINE = 400
# Job findings whose rule leaves the "why" to the operator.
TERSE_RULES = frozenset({"LME024", "LME036", "LME037", "LME039"})


def operator_pods(snapshot: Snapshot) -> list[tuple[str, str]]:
    """(namespace, pod) of the TrustyAI operator, found through its Deployment's selector as detect does."""
    out = []
    for deployment in snapshot.list("apps", "v1", "deployments"):
        meta = deployment.get("metadata") or {}
        if meta.get("name") != R.OPERATOR_DEPLOYMENT:
            continue
        ns = str(meta.get("namespace") or "")
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for pod in snapshot.list("", "v1", "pods", ns):
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                out.append((ns, str(pod["metadata"]["name"])))
    return sorted(out)


def job_is_terse(job: JSON, now: datetime) -> bool:
    """Nothing in the job's status says why: stuck without a message, or failed with an unknown one."""
    status = S.job_status(job)
    state = status.get("state") or "New"
    if LC.shutdown_overdue(job, now):  # "Succeeded", but the manager logs why its pod is still running
        return True
    if S.is_failed(job):
        return S.classify_status_message(str(status.get("message") or "")) is None
    if state in ("New", "Scheduled", "Running", "Suspended"):
        since = S.parse_time(status.get("lastScheduleTime")) or S.parse_time(
            (job.get("metadata") or {}).get("creationTimestamp"))
        return since is not None and now - since >= S.STUCK_AFTER
    return False


def collect_operator_log(snapshot: Snapshot, jobs: Iterable[JSON],
                         fetch: Callable[[str, str, str, int, int], str | None],
                         lock: AbstractContextManager[object] | None = None) -> None:
    """Fetch the manager log tail (bounded) when some job in scope is terse; store it in the snapshot's logs.
    `lock` guards the snapshot while other threads still fill it (the doctor's job layer)."""
    if not needs_operator_log(snapshot, jobs):
        return
    guard = lock or nullcontext()
    with guard:
        pods = operator_pods(snapshot)
    for ns, pod in pods:
        text = fetch(ns, pod, R.OPERATOR_CONTAINER, OPERATOR_LOG_TAIL_LINES, OPERATOR_LOG_LIMIT_BYTES)
        # Supplementary evidence: an identity that may not read the operator's log loses only this, silently
        # (its findings stand on the job's own objects).
        if text is not None:
            with guard:
                snapshot.logs[(ns, pod, R.OPERATOR_CONTAINER)] = text


def needs_operator_log(snapshot: Snapshot, jobs: Iterable[JSON]) -> bool:
    """Whether some job in scope is terse: only then is the manager's log read."""
    now = snapshot.collected_at or S.utcnow()
    return any(job_is_terse(j, now) for j in jobs)


# controller-runtime's context on every reconciler line: the same for each line about a job, and so long that
# the error at the end of the line (what the evidence is for) fell past MAX_LINE.
_RECONCILER_CONTEXT = re.compile(r'"(?:controller|controllerGroup|controllerKind|reconcileID)": "[^"]*", |'
                                 r'"LMEvalJob": \{[^{}]*\}, ')
_ERROR_LEVEL = re.compile(r"\tERROR\t")


def lines_about(text: str, name: str, namespace: str | None) -> list[tuple[int, str]]:
    """The last LINES_PER_JOB (number, line) naming the job (and its namespace when the line has one): its
    ERROR lines when it has any (the manager also logs a routine line per reconcile), without the reconciler's
    repeated context."""
    word = re.compile(rf"(?<![-\w.]){re.escape(name)}(?![-\w.])")
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        if word.search(line) and (not namespace or namespace in line):
            hits.append((number, line.strip()))
    errors = [(number, line) for number, line in hits if _ERROR_LEVEL.search(line)]
    chosen = (errors or hits)[-LINES_PER_JOB:]
    return [(number, _RECONCILER_CONTEXT.sub("", line)[:MAX_LINE]) for number, line in chosen]


def with_operator_evidence(findings: list[Finding], snapshot: Snapshot) -> list[Finding]:
    """Attach the operator log's lines about a job to its terse findings (LME024, LME036, LME037, LME039)."""
    logs = [(ns, pod, text) for (ns, pod, container), text in snapshot.logs.items()
            if container == R.OPERATOR_CONTAINER and (ns, pod) in set(operator_pods(snapshot))]
    if not logs:
        return findings
    out = []
    for finding in findings:
        target = finding.target
        if finding.rule_id in TERSE_RULES and target.kind == "LMEvalJob":
            extra = tuple(Evidence("log", line, path=f"pod/{pod}/{R.OPERATOR_CONTAINER}", line=number)
                          for ns, pod, text in logs for number, line in lines_about(text, target.name,
                                                                                    target.namespace))
            if extra:
                finding = dataclasses.replace(finding, evidence=finding.evidence + extra)
        out.append(finding)
    return out
