"""Versioned JSON report; the schema is documented in docs/findings-schema.md."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from lmeval_setup.redact import redact_text
from lmeval_setup.rules.finding import Evidence, Finding

SCHEMA_NAME = "lmeval-setup/findings"
SCHEMA_VERSION = 1


def finding_to_dict(finding: Finding, *, redact: Callable[[str], str] = redact_text) -> dict[str, Any]:
    rule = finding.rule
    t = finding.target
    out: dict[str, Any] = {
        "id": rule.id,
        "slug": rule.slug,
        "severity": finding.severity,
        "title": rule.title,
        "message": redact(finding.message),
    }
    if t.kind or t.name:
        out["target"] = {"kind": t.kind, "namespace": t.namespace, "name": t.name}
    if t.file:
        out["file"] = {"path": t.file, "line": t.line, "column": t.column}
    out["evidence"] = [_evidence(ev, redact) for ev in finding.evidence]
    out["fix"] = rule.fix
    out["example"] = rule.example or None
    out["docs"] = rule.docs
    if finding.suppression is not None:
        s = finding.suppression
        out["suppressed"] = {"reason": redact(s.reason), "source": s.source, "kind": s.kind}
    return out


def _evidence(ev: Evidence, redact: Callable[[str], str]) -> dict[str, Any]:
    return {"source": ev.source, "path": ev.path, "line": ev.line, "text": redact(ev.text)}


def report_dict(findings: Sequence[Finding], *, tool: str, errors: Sequence[str] = ()) -> dict[str, Any]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        if f.suppression is None:
            counts[f.severity] += 1
    # Findings of jobs made from one template and failing alike repeat their messages and log lines: each
    # distinct text is redacted once per report (redact_text is a pure function of its text).
    redact = lru_cache(maxsize=None)(redact_text)
    suppressed = sum(1 for f in findings if f.suppression is not None)
    if suppressed:
        counts["suppressed"] = suppressed
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "tool": tool,
        "summary": counts,
        "findings": [finding_to_dict(f, redact=redact) for f in findings],
        "errors": [redact(e) for e in errors],
    }


def render_json(findings: Sequence[Finding], *, tool: str, errors: Sequence[str] = ()) -> str:
    return json.dumps(report_dict(findings, tool=tool, errors=errors), indent=2) + "\n"
