"""What a simulated container "does": log lines over time and an exit code.

The kubelet plays a `ContainerScript` for containers that are not real programs here (scenario
annotations, the simulated operator's driver init container); a job's lm-eval is never one. A line's
timestamp is stamped when the kubelet emits it, in the format of the program that would have written it,
so a log read an hour later still shows the times the pod really ran.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

# "lmeval": Python logging as lm-eval v0.4.8 configures it (`%Y-%m-%d:%H:%M:%S,mmm LEVEL ...`);
# "zap": the Go driver's zap development encoder (`2025-06-10T15:01:25.301Z\tINFO\t...`);
# "klog": controller-runtime's default (zap) console encoder as the operator manager prints it;
# None: raw text (tqdm bars, tracebacks, stdout).
Stamp = Literal["lmeval", "zap", "klog"] | None


@dataclass(frozen=True)
class LogLine:
    at: float  # seconds after the container started
    text: str
    stamp: Stamp = None


@dataclass(frozen=True)
class ContainerScript:
    """Lines over time, then exit with `exit_code`; `forever` containers never exit on their own."""

    lines: tuple[LogLine, ...] = ()
    exit_code: int = 0
    _: KW_ONLY
    forever: bool = False
    # Seconds after the last line before the process exits (the TrustyAI driver waits for --shutdown).
    linger: float = 0.5
    # Marks the container ready while it runs (from its readinessProbe.initialDelaySeconds on: kubelet._ready).
    ready: bool = True
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        last = self.lines[-1].at if self.lines else 0.0
        return last + self.linger


RUN_FOREVER = ContainerScript(forever=True)


def stamp_line(line: LogLine, when: dt.datetime) -> str:
    """Prefix `line.text` with `when` in the format of the program that wrote it."""
    when = when.astimezone(dt.UTC)
    if line.stamp == "lmeval":
        return f"{when:%Y-%m-%d:%H:%M:%S},{when.microsecond // 1000:03d} {line.text}"
    if line.stamp == "zap":
        return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z\t{line.text}"
    if line.stamp == "klog":
        return f"{when:%Y-%m-%dT%H:%M:%SZ}\t{line.text}"
    return line.text
