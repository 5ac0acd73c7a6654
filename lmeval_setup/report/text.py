"""Human-readable report, grouped by file or object.

    jobs/bad.yaml (LMEvalJob private-ai-demo/evaljob)
      jobs/bad.yaml:14:16 error LME002 base-url-path: base_url ends in /v1, ...
          spec.modelArgs[1].value: http://granite-predictor:8080/v1
          fix: Set the base_url model argument to ...

Colour only on a terminal; NO_COLOR (https://no-color.org) and a non-TTY turn it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from lmeval_setup.redact import printable, redact_text
from lmeval_setup.rules.finding import Evidence, Finding, Target

_COLORS = {"error": "31;1", "warning": "33;1", "info": "36", "dim": "2", "bold": "1", "ok": "32"}


def color_enabled(color: bool | None, stream: object = None) -> bool:
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def render_text(
    findings: Sequence[Finding],
    *,
    tool: str,
    color: bool | None = None,
    checked: Sequence[Target] = (),
    errors: Sequence[str] = (),
) -> str:
    paint = _painter(color_enabled(color))
    lines: list[str] = []
    for message in errors:
        lines.append(f"{paint('error', 'error')}: {_shown(message)}")
    groups = _group(findings)
    for header, members in groups.items():
        lines.append(paint("bold", printable(header)))
        for finding in members:
            lines.extend(_finding_lines(finding, paint))
        lines.append("")
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        if f.suppression is None:
            counts[f.severity] += 1
    clean = [t for t in checked if _group_key(t) not in groups]
    suppressed = sum(1 for f in findings if f.suppression is not None)
    lines.append(_summary_line(tool, counts, _checked_text(checked), len(clean), paint)
                 + (f" ({suppressed} suppressed)" if suppressed else ""))
    return "\n".join(lines) + "\n"


def _group_key(target: Target) -> str:
    if target.file:
        obj = f" ({target.kind} {_object_name(target)})" if target.kind and target.name else ""
        return f"{target.file}{obj}"
    return f"{target.kind} {_object_name(target)}"


def _object_name(target: Target) -> str:
    return f"{target.namespace}/{target.name}" if target.namespace else target.name


def _group(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(_group_key(f.target), []).append(f)
    return groups


def _finding_lines(finding: Finding, paint: _Paint) -> list[str]:
    rule = finding.rule
    where = ""
    if finding.target.file:
        where = printable(":".join(
            str(p) for p in (finding.target.file, finding.target.line, finding.target.column) if p is not None
        )) + " "
    if finding.suppression is not None:
        # One line: what was suppressed, why, and where that was decided.
        s = finding.suppression
        return [f"  {where}{paint('dim', 'suppressed')} {rule.id} {rule.slug}: {_shown(finding.message)}",
                "      " + paint("dim", f"reason: {_shown(s.reason)} ({printable(s.source)})")]
    head = (
        f"  {where}{paint(finding.severity, finding.severity)} {paint('bold', rule.id)} {rule.slug}: "
        f"{_shown(finding.message)}"
    )
    lines = [head]
    for ev in finding.evidence:
        lines.append("      " + paint("dim", _evidence_text(ev)))
    lines.append(f"      fix: {rule.fix}")
    if rule.example:
        lines.extend("        " + paint("dim", line) for line in rule.example.splitlines())
    lines.append("      docs: " + paint("dim", rule.docs))
    return lines


def _evidence_text(ev: Evidence) -> str:
    where = ev.path or ev.source
    if ev.line is not None and ev.source in ("log", "file"):
        where = f"{where}:{ev.line}"
    return printable(f"{where}: {redact_text(ev.text)}")


def _shown(text: str) -> str:
    """Text from outside (a message quoting a manifest's value, a log line): credentials masked, controls escaped."""
    return printable(redact_text(text))


def _checked_text(checked: Sequence[Target]) -> str:
    """How many objects were checked, by kind when there are several: doctor --job a,b,c,d,e checks the five
    jobs and the DataScienceCluster, and a bare "6 checked" read as a miscount of the jobs."""
    kinds: dict[str, int] = {}
    for target in checked:
        kinds[target.kind or "file"] = kinds.get(target.kind or "file", 0) + 1
    if not checked:
        return ""
    if len(kinds) < 2:
        return f"{len(checked)} checked"
    return f"{len(checked)} checked ({', '.join(f'{n} {kind}' + ('s' if n != 1 else '') for kind, n in kinds.items())})"


def _summary_line(tool: str, counts: dict[str, int], checked: str, clean: int, paint: _Paint) -> str:
    parts = [
        paint("error", f"{counts['error']} error(s)") if counts["error"] else "0 errors",
        paint("warning", f"{counts['warning']} warning(s)") if counts["warning"] else "0 warnings",
        f"{counts['info']} info",
    ]
    scope = f" in {checked}, {clean} clean" if checked else ""
    if not any(counts.values()):
        return paint("ok", f"{tool}: no findings{scope}")
    return f"{tool}: {', '.join(parts)}{scope}"


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, style: str, text: str) -> str:
        if not self.enabled or style not in _COLORS:
            return text
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m"


def _painter(enabled: bool) -> _Paint:
    return _Paint(enabled)
