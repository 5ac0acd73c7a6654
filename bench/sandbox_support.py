"""What the sandbox benchmarks share: a control plane with an audit log, one client identity per measured
tool, and request counts read back from the apiserver's audit log.

Attribution: every measured tool connects as its own user (a client certificate from the sandbox CA, in
system:masters), and every sample records its wall-clock window. A request counts for a sample when its
user matches and it was received inside the window, so simulator and controller-manager traffic (the
admin user) and the other tools' requests never leak into a figure, even across process boundaries.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# "create" on these is a question to the apiserver, never stored: not a write to the cluster.
REVIEW_RESOURCES = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews",
                              "tokenreviews", "localsubjectaccessreviews"})


@dataclass
class Window:
    """One measured run: who made the requests and when (UTC, as the audit log stamps them)."""

    user: str
    began: dt.datetime
    ended: dt.datetime
    seconds: float


@contextmanager
def window(user: str) -> Iterator[list[Window]]:
    """Time the body; the caller reads the Window from the yielded one-element list afterwards."""
    out: list[Window] = []
    began, start = dt.datetime.now(dt.UTC), time.perf_counter()
    try:
        yield out
    finally:
        out.append(Window(user, began, dt.datetime.now(dt.UTC), time.perf_counter() - start))


@dataclass
class Requests:
    total: int = 0
    writes: int = 0  # persisted writes (reviews excluded)
    reviews: int = 0  # SelfSubjectAccessReviews and the like
    by_verb: Counter[str] = field(default_factory=Counter)


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def audit_events(path: Path) -> list[dict[str, object]]:
    """ResponseComplete events (one per finished request; watches also log ResponseStarted)."""
    events = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("stage") == "ResponseComplete":
            events.append(event)
    return events


def count(events: list[dict[str, object]], win: Window, slack: float = 0.05) -> Requests:
    """The requests `win.user` made during `win` (slack: clock granularity between us and the apiserver)."""
    lo, hi = win.began - dt.timedelta(seconds=slack), win.ended + dt.timedelta(seconds=slack)
    found = Requests()
    for event in events:
        if (event.get("user") or {}).get("username") != win.user:  # type: ignore[union-attr]
            continue
        if not lo <= _stamp(str(event["requestReceivedTimestamp"])) <= hi:
            continue
        verb = str(event.get("verb"))
        resource = (event.get("objectRef") or {}).get("resource")  # type: ignore[union-attr]
        found.total += 1
        found.by_verb[verb] += 1
        if verb in WRITE_VERBS:
            if resource in REVIEW_RESOURCES:
                found.reviews += 1
            else:
                found.writes += 1
    return found


def wait_for_audit_flush(path: Path, settle: float = 1.0) -> None:
    """The log backend writes as requests finish; give the last ones a moment to reach the file."""
    deadline, size = time.monotonic() + 10, -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now == size:
            return
        size = now
        time.sleep(settle)


def rss_mib(pids: list[int]) -> float:
    """Resident memory of the given processes (VmRSS), in MiB; vanished processes count 0."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def group_pids(pgids: list[int]) -> list[int]:
    """Every process whose process group is one of `pgids` (the sandbox runs each part in its own session)."""
    wanted, pids = set(pgids), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in wanted:  # fields after the command: state, ppid, pgrp, ...
            pids.append(int(entry.name))
    return pids
