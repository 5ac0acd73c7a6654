"""`provision -o json|yaml`: one machine-readable document per run (schema docs/schemas/provision.schema.json).

The run records what it decided (lint findings, the job's end state, results, gate verdicts, the
doctor's findings) into a ProvisionReport as it goes; text output is printed as before. Every key has
one JSON type: lists are empty and strings are "" when a run never got that far.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from lmeval_setup.rules.finding import Finding

SCHEMA = "lmeval-setup/provision"
SCHEMA_VERSION = 1
# What the run reached: blocked (cluster cause, nothing applied), lint-failed (nothing applied),
# applied (no --wait), succeeded, gates-failed, failed (the job failed), timed-out, torn-down, error.
OUTCOMES = ("blocked", "lint-failed", "applied", "succeeded", "gates-failed", "failed", "timed-out",
            "torn-down", "error")


@dataclass
class ProvisionReport:
    namespace: str
    job: str
    _: KW_ONLY
    outcome: str = "error"
    applied: bool = False
    torn_down: bool = False
    job_state: dict[str, str] = field(default_factory=lambda: {"state": "", "reason": "", "message": ""})
    findings: list[Finding] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)  # results.model.JobResult
    gates: list[Any] = field(default_factory=list)  # provision.gates.GateResult
    errors: list[str] = field(default_factory=list)

    def as_dict(self, exit_code: int) -> dict[str, Any]:
        from lmeval_setup.redact import redact_text
        from lmeval_setup.report.jsonfmt import finding_to_dict
        from lmeval_setup.results.table import columns_for, results_json

        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "namespace": self.namespace,
            "job": self.job,
            "outcome": self.outcome,
            "exit_code": int(exit_code),
            "applied": self.applied,
            "torn_down": self.torn_down,
            "job_state": {k: redact_text(v) for k, v in self.job_state.items()},
            "findings": [finding_to_dict(f) for f in self.findings],
            "results": results_json(self.results, columns_for(self.results))["jobs"] if self.results else [],
            "gates": [_gate_dict(g) for g in self.gates],
            "errors": [redact_text(e) for e in self.errors],
        }


def _gate_dict(verdict: Any) -> dict[str, Any]:
    gate = verdict.gate
    out: dict[str, Any] = {"gate": gate.text, "task": gate.task, "metric": gate.metric, "op": gate.op,
                           "threshold": gate.threshold, "passed": verdict.passed, "message": verdict.message}
    if verdict.actual is not None:  # absent, not null, when the task or metric is missing
        out["actual"] = verdict.actual
    return out
