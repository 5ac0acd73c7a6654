"""Follow an LMEvalJob until it reaches `Complete`, with a live display of its progress bars.

The job's `status.state` moves New -> Scheduled -> Running -> Complete (reason Succeeded, Failed or
Cancelled). We read it once, then watch the single object from that resourceVersion: no polling
while nothing happens, and a dropped watch (apiserver restart, idle timeout, 410 Gone) just means
read again and re-watch.

Display: `status.progressBars` (tqdm lines parsed by the driver) become one self-rewriting line on a
terminal; elsewhere (CI logs) one plain line per change, so logs stay readable. Always on stderr:
stdout carries only results.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any, TextIO

from lmeval_setup.errors import ClusterError, WaitTimeout
from lmeval_setup.kube.client import ApiError, Kube, WatchInterrupted
from lmeval_setup.platform.lmevaljob import lmevaljob_path
from lmeval_setup.platform.lost_poll import LostPollRecovery
from lmeval_setup.redact import printable

JSON = dict[str, Any]
TERMINAL_STATE = "Complete"


@dataclass(frozen=True)
class Outcome:
    job: JSON
    state: str
    _: KW_ONLY
    reason: str
    message: str

    @property
    def succeeded(self) -> bool:
        return self.state == TERMINAL_STATE and self.reason == "Succeeded"


def is_finished(job: JSON | None) -> bool:
    return bool(job) and (job or {}).get("status", {}).get("state") == TERMINAL_STATE


def describe_status(job: JSON) -> str:
    """One line: state, reason, and the newest progress bar or message."""
    status = job.get("status") or {}
    state = status.get("state") or "New"
    reason = status.get("reason")
    parts = [state if not reason or reason == "NoReason" else f"{state}/{reason}"]
    bar = latest_bar(status)
    if bar and state != TERMINAL_STATE:
        parts.append(format_bar(bar))
    elif status.get("message"):
        parts.append(str(status["message"]))
    return printable(": ".join(parts))  # the operator's words, and lm-eval's progress text, are shown as text


def latest_bar(status: JSON) -> JSON | None:
    bars = status.get("progressBars") or []
    return bars[-1] if bars and isinstance(bars[-1], dict) else None


def format_bar(bar: JSON, width: int = 20) -> str:
    percent_text = str(bar.get("percent", "")).strip()
    try:
        fraction = max(0.0, min(1.0, float(percent_text.rstrip("%")) / 100))
    except ValueError:
        fraction = 0.0
    filled = round(fraction * width)
    gauge = "#" * filled + "." * (width - filled)
    eta = bar.get("remainingTimeEstimate")
    tail = f" {bar.get('count', '')} elapsed {bar.get('elapsedTime', '?')}" + (f" eta {eta}" if eta else "")
    return f"{bar.get('message', '').strip()} [{gauge}] {percent_text}{tail}"


class ProgressDisplay:
    """Rewrites one line on a TTY; prints a line per distinct status otherwise."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None, prefix: str = "") -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.prefix = prefix
        self._last = ""

    def update(self, job: JSON) -> None:
        text = self.prefix + describe_status(job)
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write("\r\x1b[K" + text[:200])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def wait_for_job(
    kube: Kube, namespace: str, name: str, *, timeout: float,
    on_update: Callable[[JSON], None] = lambda _: None,
    recovery: LostPollRecovery | None = None,
    on_touch: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Block until the job is Complete; WaitTimeout (exit 5) when `timeout` seconds pass first.

    With a `recovery`, a job that stayed unchanged for one of its intervals (no progress, no state change) is
    offered to it: upstream's lost status poll leaves a job so for 10 h (platform/lost_poll.py); `on_touch` is told."""
    path = lmevaljob_path(namespace, name)
    collection = lmevaljob_path(namespace)
    deadline = time.monotonic() + timeout
    seen = None  # the resourceVersion read before the last watch window
    while True:
        job = _get(kube, path, namespace, name)
        on_update(job)
        if is_finished(job):
            return _outcome(job)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"LMEvalJob {namespace}/{name} did not finish within {timeout:.0f}s "
                f"(last status: {describe_status(job)})",
                hint=f"lmeval-setup doctor -n {namespace} --job {name}",
            )
        version = job["metadata"].get("resourceVersion")
        if recovery is not None and version == seen:  # quiet for a whole window: ask whether the poll was lost
            for touched in recovery.nudge([job]):
                on_touch(touched)
        seen = version
        window = remaining if recovery is None else min(remaining, recovery.every)
        finished = _watch_until_finished(kube, collection, name, job, window, on_update)
        if finished is not None:
            return _outcome(finished)


def _get(kube: Kube, path: str, namespace: str, name: str) -> JSON:
    job = kube.get_or_none(path)
    if job is None:
        raise ClusterError(f"LMEvalJob {namespace}/{name} disappeared while waiting for it")
    return job


def _watch_until_finished(
    kube: Kube, collection: str, name: str, job: JSON, remaining: float, on_update: Callable[[JSON], None]
) -> JSON | None:
    """Watch from the job's resourceVersion; None when the watch ends before the job finishes."""
    try:
        events = kube.watch(
            collection, resource_version=job["metadata"]["resourceVersion"],
            timeout_seconds=max(1, min(int(remaining), 60)), fieldSelector=f"metadata.name={name}",
        )
        for event in events:
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # typically 410 Gone: our resourceVersion is too old; re-read
                return None
            if kind == "DELETED":
                raise ClusterError(f"LMEvalJob {name} was deleted while waiting for it")
            if kind in ("ADDED", "MODIFIED"):
                on_update(obj)
                if is_finished(obj):
                    return obj
    except WatchInterrupted:
        time.sleep(1)  # the apiserver went away mid-watch: re-read when it is back
        return None
    except ApiError as exc:
        if exc.status == 410:
            return None
        raise
    return None


def _outcome(job: JSON) -> Outcome:
    status = job.get("status") or {}
    return Outcome(job, str(status.get("state", "")), reason=str(status.get("reason", "")),
                   message=str(status.get("message", "")))
