"""SARIF 2.1.0 for GitHub code scanning.

Every catalog rule is listed (stable ruleIndex); results carry a physicalLocation when the finding
points into a file (lint) and a logicalLocation for cluster objects (doctor). GitHub needs
repository-relative URIs, so paths under the working directory are made relative.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from lmeval_setup import __version__
from lmeval_setup.redact import redact_text
from lmeval_setup.rules.catalog import RULES, Rule
from lmeval_setup.rules.finding import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
INFORMATION_URI = "https://github.com/trustyai-explainability/trustyai-service-operator"


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    help_md = rule.fix + (f"\n\n```yaml\n{rule.example}\n```" if rule.example else "")
    return {
        "id": rule.id,
        "name": rule.slug,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix, "markdown": help_md},
        "helpUri": rule.docs,
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        "properties": {"tags": ["lmevaljob", "trustyai"], "problem.severity": rule.severity},
    }


def _uri(path: str) -> str:
    if path in ("-", "<stdin>"):
        return "stdin"
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(Path.cwd())
        except ValueError:
            return p.as_uri()
    return PurePath(os.path.normpath(p)).as_posix()


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    t = f.target
    message = redact_text(f.message)
    if f.evidence:
        ev = f.evidence[0]
        message += f" ({ev.path or ev.source}: {redact_text(ev.text)})"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index[f.rule_id],
        "level": _LEVELS[f.severity],
        "message": {"text": message},
    }
    location: dict[str, Any] = {}
    if t.file:
        region: dict[str, Any] = {"startLine": max(t.line or 1, 1)}
        if t.column:
            region["startColumn"] = max(t.column, 1)
        artifact: dict[str, Any] = {"uri": _uri(t.file)}
        if not Path(t.file).is_absolute() and t.file not in ("-", "<stdin>"):
            artifact["uriBaseId"] = "%SRCROOT%"
        location["physicalLocation"] = {"artifactLocation": artifact, "region": region}
    if t.kind or t.name:
        name = f"{t.namespace}/{t.name}" if t.namespace else t.name
        location["logicalLocations"] = [
            {"name": t.name, "fullyQualifiedName": f"{t.kind}/{name}", "kind": "object"}
        ]
    if location:
        result["locations"] = [location]
    # Stable across runs and line shifts, so code scanning tracks the same alert.
    fingerprint = "/".join([f.rule_id, t.file or "", t.kind, t.namespace or "", t.name,
                            f.evidence[0].path or "" if f.evidence else ""])
    result["partialFingerprints"] = {"lmevalFinding/v1": fingerprint}
    if f.suppression is not None:
        # SARIF's own field: code scanning shows the alert as dismissed with this justification.
        result["suppressions"] = [{"kind": f.suppression.kind, "status": "accepted",
                                   "justification": redact_text(f"{f.suppression.reason} ({f.suppression.source})")}]
    return result


def render_sarif(findings: Sequence[Finding], *, tool: str, errors: Sequence[str] = ()) -> str:
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": f"lmeval-setup {tool}",
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule_descriptor(r) for r in rules],
            }
        },
        "results": [_result(f, index) for f in findings],
        "columnKind": "unicodeCodePoints",
    }
    if errors:
        run["invocations"] = [{
            "executionSuccessful": False,
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": redact_text(e)}} for e in errors
            ],
        }]
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"
