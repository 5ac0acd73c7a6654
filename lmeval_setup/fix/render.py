"""Text and structured views of a fix plan (doctor --fix) and of its outcome (--wait)."""

from __future__ import annotations

from typing import Any

from lmeval_setup.fix.engine import JobPlan
from lmeval_setup.fix.remediate import FixRun, JobFix, step_verdicts


def plan_text(run: FixRun, *, applying: bool, waited: bool = False) -> str:
    lines = ["fix plan" + ("" if applying else " (dry run: nothing is written; --yes applies it)"), ""]
    if run.needs_bootstrap:
        flags = " ".join(run.bootstrap_flags)
        lines.append(f"cluster: lmeval-setup bootstrap {flags}".rstrip()
                     + f"  (fixes {', '.join(run.bootstrap_rules)}; preflight, revert record, restart only if needed)")
        lines.append("")
    for finding in run.cluster_manual:
        lines.append(f"cluster: {finding.rule_id} {finding.rule.slug} needs a manual step: {finding.rule.fix}")
    for job in run.jobs:
        lines += _job_text(job, waited)
    for note in run.notes:
        lines.append(f"note: {note}")
    if not run.jobs and not run.needs_bootstrap and not run.cluster_manual:
        lines.append("nothing to fix")
    return "\n".join(lines).rstrip("\n") + "\n"


def _job_text(job: JobFix, waited: bool) -> list[str]:
    plan = job.plan
    where = f"{plan.namespace}/{plan.name}"
    if job.applicable:
        head = (f"LMEvalJob {where}: replaced by a corrected job of the same name" if job.new_name == plan.name
                else f"LMEvalJob {where} -> {job.new_name}")
    else:
        head = f"LMEvalJob {where}: no automatic change"
    lines = [head]
    for step in plan.steps:
        if step.kind == "job-patch":
            lines.append(f"  {step.rule_id} {step.message}")
            for value in step.values:
                lines.append(f"      set {value.path} = {_show(value.value)}  (from {value.source})")
            if step.bootstrap_flags:
                lines.append(f"      and on the cluster: lmeval-setup bootstrap {' '.join(step.bootstrap_flags)}")
        elif step.kind == "bootstrap":
            lines.append(f"  {step.rule_id} {step.message}")
            lines.append(f"      cluster: lmeval-setup bootstrap {' '.join(step.bootstrap_flags)}".rstrip())
        else:
            lines.append(f"  {step.rule_id} manual: {step.message}")
            lines += [f"      step: {text}" for text in step.manual]
    if plan.changed:
        lines += ["    " + line for line in plan.diff().splitlines()]
    elif job.applicable:
        lines.append("    (the same spec, run again once the cluster-level fix is in place)")
    if waited and job.applicable:
        lines.append(f"  result: {job.new_name} {job.outcome or 'not complete'}")
        for rule_id, verdict in step_verdicts(job):
            lines.append(f"    {rule_id}: {verdict}")
        for finding in job.verdict:
            lines.append(f"    doctor on {job.new_name}: {finding.severity} {finding.rule_id} {finding.message}")
    lines.append("")
    return lines


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value).replace("True", "true").replace("False", "false")


SCHEMA = "lmeval-setup/fix-plan"


def plan_document(run: FixRun, *, applying: bool, waited: bool) -> dict[str, Any]:
    """doctor --fix -o json|yaml (docs/schemas/fix-plan.schema.json): one JSON type per key."""
    return {
        "schema": SCHEMA,
        "version": 1,
        "dryRun": not applying,
        "cluster": {"bootstrap": run.needs_bootstrap, "bootstrapFlags": list(run.bootstrap_flags),
                    "rules": list(run.bootstrap_rules),
                    "manual": [{"rule": f.rule_id, "message": f.message, "steps": [f.rule.fix]}
                               for f in run.cluster_manual]},
        "jobs": [_job_document(j, waited) for j in run.jobs],
        "notes": list(run.notes),
    }


def _job_document(job: JobFix, waited: bool) -> dict[str, Any]:
    plan: JobPlan = job.plan
    doc: dict[str, Any] = {
        "namespace": plan.namespace or "", "name": plan.name,
        "fixedBy": job.new_name if job.applicable else "",
        "steps": [{"rule": s.rule_id, "kind": s.kind, "message": s.message,
                   "values": [{"path": v.path, "value": v.value, "source": v.source} for v in s.values],
                   "bootstrapFlags": list(s.bootstrap_flags), "manual": list(s.manual)} for s in plan.steps],
        "mergePatch": plan.merge_patch() if job.applicable else {},
    }
    if waited and job.applicable:
        doc["outcome"] = job.outcome or ""
        doc["verdicts"] = [{"rule": r, "verdict": v} for r, v in step_verdicts(job)]
        doc["newFindings"] = [{"rule": f.rule_id, "severity": f.severity, "message": f.message} for f in job.verdict]
    return doc
