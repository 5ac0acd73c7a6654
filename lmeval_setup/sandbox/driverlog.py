"""What the TrustyAI job pod's driver writes and where: paths in the job image, its progress bars and
its final status line (controllers/lmes/driver/driver.go). Facts about the driver's output format, read
by the simulated operator and written by the stand-in driver; no failure is decided here."""

from __future__ import annotations

import json
import re
from typing import Any

OUTPUT_PATH = "/opt/app-root/src/output"
INCLUDE_PATH = "/opt/app-root/src/my_tasks"
DRIVER_BIN = "/opt/app-root/src/bin/driver"

# The TrustyAI driver's progress regex (controllers/lmes/driver/driver.go).
PROGRESS_RE = re.compile(r"(.*): *(\d+%).*?(\d+\/\d+) +\[(\d+:\d+:?\d+)<(\d+:\d+:?\d+), +(\d+.\d+.*\/s)\]")
MAX_PROGRESS_BARS = 10
DRIVER_STATUS_RE = re.compile(r"\tdriver\tupdate status: job completed\t(\{.*\})\s*$")


def go_json(value: Any) -> str:
    """encoding/json: compact, and HTML-escaping <, > and & like Go does."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def progress_bars(lines: list[str]) -> list[dict[str, str]]:
    """The driver's progressBars from tqdm lines: same message updates the last bar, at most 10."""
    bars: list[dict[str, str]] = []
    for line in lines:
        match = PROGRESS_RE.search(line)
        if not match:
            continue
        bar = {
            "message": match.group(1).strip(),
            "percent": match.group(2),
            "elapsedTime": _hms(match.group(4)),
            "remainingTimeEstimate": _hms(match.group(5)),
            "count": match.group(3),
        }
        if bars and bars[-1]["message"] == bar["message"]:
            bars[-1] = bar
        else:
            bars.append(bar)
    return bars[-MAX_PROGRESS_BARS:]


def _hms(text: str) -> str:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return f"{h}:{m:02d}:{s:02d}"


def parse_driver_status(log_text: str) -> dict[str, Any] | None:
    """The driver's final status (state/reason/message/results/progressBars) from a `main` log."""
    for line in reversed(log_text.splitlines()):
        match = DRIVER_STATUS_RE.search(line)
        if match:
            try:
                return dict(json.loads(match.group(1)).get("state") or {})
            except ValueError:
                return None
    return None
