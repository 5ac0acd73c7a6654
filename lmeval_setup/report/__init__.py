"""Renderers shared by doctor, lint and provision: text, json, junit, sarif.

One entry point, `render(findings, fmt, tool=...)`, plus the two policies every command applies the
same way: `--ignore ID` filtering (`filter_ignored`) and the exit code for `--fail-on`
(`exit_code_for`). Renderers never decide what is a problem; they only present Findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lmeval_setup.errors import ExitCode, UsageError
from lmeval_setup.rules.catalog import RULES, RULES_BY_SLUG, SEVERITY_ORDER, Severity
from lmeval_setup.rules.finding import Finding, Target

FORMATS: tuple[str, ...] = ("text", "json", "yaml", "junit", "sarif")
FAIL_ON_CHOICES: tuple[str, ...] = ("error", "warning", "info")


def render(
    findings: Sequence[Finding],
    fmt: str,
    *,
    tool: str,
    color: bool | None = None,
    fail_on: Severity = "error",
    checked: Sequence[Target] = (),
    errors: Sequence[str] = (),
) -> str:
    """Render findings in one of FORMATS.

    `checked` lists every object/file that was examined, so clean ones still appear (as passing
    JUnit test cases, as "no findings" in text). `errors` are input problems that are not rule
    findings (an unreadable file); text shows them, json carries them, junit/sarif report them as
    tool notifications/errors.
    """
    ordered = sort_findings(findings)
    if fmt == "text":
        from lmeval_setup.report.text import render_text

        return render_text(ordered, tool=tool, color=color, checked=checked, errors=errors)
    if fmt == "json":
        from lmeval_setup.report.jsonfmt import render_json

        return render_json(ordered, tool=tool, errors=errors)
    if fmt == "yaml":  # the same document as json (docs/schemas/findings.schema.json), for kubectl habits
        from lmeval_setup.report.jsonfmt import report_dict
        from lmeval_setup.report.structured import dump

        return dump(report_dict(ordered, tool=tool, errors=errors), "yaml")
    if fmt == "junit":
        from lmeval_setup.report.junit import render_junit

        return render_junit(ordered, tool=tool, fail_on=fail_on, checked=checked, errors=errors)
    if fmt == "sarif":
        from lmeval_setup.report.sarif import render_sarif

        return render_sarif(ordered, tool=tool, errors=errors)
    raise UsageError(f"unknown output format {fmt!r}", hint=f"choose one of {', '.join(FORMATS)}")


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable, reader-friendly order: by object/file, then position, then severity (worst first)."""

    def key(f: Finding) -> tuple[object, ...]:
        t = f.target
        return (
            t.file or "", t.kind, t.namespace or "", t.name, t.line or 0, t.column or 0,
            -SEVERITY_ORDER[f.severity], f.rule_id,
        )

    return sorted(findings, key=key)


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        if f.suppression is None:
            counts[f.severity] += 1
    return counts


def exit_code_for(findings: Iterable[Finding], fail_on: str = "error") -> int:
    """0 when nothing is at or above `fail_on`, 1 (ExitCode.FINDINGS) otherwise."""
    if fail_on not in SEVERITY_ORDER:
        raise UsageError(f"unknown --fail-on level {fail_on!r}", hint="error, warning or info")
    threshold: Severity = fail_on  # type: ignore[assignment]
    # A suppressed finding (suppression file, inline comment) is reported but never fails the run.
    failing = any(f.at_least(threshold) for f in findings if f.suppression is None)
    return int(ExitCode.FINDINGS) if failing else int(ExitCode.OK)


def resolve_rule_ids(names: Iterable[str]) -> frozenset[str]:
    """Turn `--ignore` values (IDs or slugs, any case, comma-separated allowed) into rule IDs."""
    resolved: set[str] = set()
    for raw in names:
        for name in filter(None, (part.strip() for part in raw.split(","))):
            found = RULES.get(name.upper()) or RULES_BY_SLUG.get(name.lower())
            if found is None:
                raise UsageError(f"--ignore: unknown rule {name!r}", hint="rule IDs look like LME002")
            resolved.add(found.id)
    return frozenset(resolved)


def filter_ignored(findings: Iterable[Finding], ignore: Iterable[str]) -> list[Finding]:
    """Drop findings whose rule is in `ignore` (IDs or slugs)."""
    ignored = resolve_rule_ids(ignore)
    return [f for f in findings if f.rule_id not in ignored]


__all__ = [
    "FAIL_ON_CHOICES",
    "FORMATS",
    "exit_code_for",
    "filter_ignored",
    "render",
    "resolve_rule_ids",
    "sort_findings",
    "summary",
]
