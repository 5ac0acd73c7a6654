"""Findings: what a detector reports. Shared by doctor, lint, provision and every renderer."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

from lmeval_setup.rules.catalog import SEVERITY_ORDER, Rule, Severity, rule

EvidenceSource = Literal["spec", "status", "pod", "event", "log", "cluster", "file"]


@dataclass(frozen=True)
class Evidence:
    """Why a rule fired: where we looked and the (already redacted) text we saw there."""

    source: EvidenceSource
    text: str
    _: KW_ONLY
    path: str | None = None  # field path ("spec.modelArgs[0].value") or log name ("pod/x/main")
    line: int | None = None  # log line number, or file line for lint
    column: int | None = None


@dataclass(frozen=True)
class Target:
    """The object or file a finding is about. Files carry `file`; cluster objects carry kind/name."""

    kind: str = ""
    name: str = ""
    _: KW_ONLY
    namespace: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def label(self) -> str:
        if self.file:
            return ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Suppression:
    """Why a finding is accepted: from the suppression file (`external`) or an inline comment (`inSource`)."""

    reason: str
    source: str  # ".lmeval-setup.yaml:4" or "jobs/a.yaml:12"
    kind: Literal["external", "inSource"] = "external"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    target: Target
    _: KW_ONLY
    message: str  # specific to this occurrence; the rule's title is the generic one
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    severity_override: Severity | None = None
    # A suppressed finding is still reported (with its reason, in every format) but never fails a run.
    suppression: Suppression | None = None

    @property
    def rule(self) -> Rule:
        return rule(self.rule_id)

    @property
    def severity(self) -> Severity:
        return self.severity_override or self.rule.severity

    def at_least(self, threshold: Severity) -> bool:
        return SEVERITY_ORDER[self.severity] >= SEVERITY_ORDER[threshold]
