"""provision --fix: lint errors with an automatic fix are fixed in the rendered job, and the diff shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmeval_setup.fix import values as V
from lmeval_setup.fix.engine import plan_job
from lmeval_setup.rules.finding import Finding

JSON = dict[str, Any]


def fix_rendered_job(objects: list[JSON], findings: list[Finding], permissions: Any,
                     isvcs: list[JSON], say: Callable[[str], None], release: Any = None) -> bool:
    """Replace the job (the last object) by its fixed version; True when it changed. `release`: the
    cluster's line, whose LMEvalJob CRD decides which fields a fix may set."""
    ctx = V.FixContext(
        inference_services=isvcs,
        online_permitted=permissions.online if permissions is not None else None,
        code_execution_permitted=permissions.code_execution if permissions is not None else None,
        release=release,
    )
    plan = plan_job(objects[-1], findings, ctx, permissions=permissions, min_severity="error")
    if not plan.changed:
        return False
    objects[-1] = plan.fixed
    # The annotation that tells a later run whether the live job is this one must describe the fixed spec.
    from lmeval_setup.provision.objects import SPEC_HASH_ANNOTATION, spec_hash

    annotations = plan.fixed.get("metadata", {}).get("annotations")
    if isinstance(annotations, dict) and SPEC_HASH_ANNOTATION in annotations:
        annotations[SPEC_HASH_ANNOTATION] = spec_hash(plan.fixed)
    say(f"provision: fixed {', '.join(plan.fixed_rules)} in the job:")
    for step in plan.steps:
        for value in step.values:
            say(f"provision:   {step.rule_id} set {value.path} = {value.value} (from {value.source})")
        if step.bootstrap_flags:
            say(f"provision:   {step.rule_id} also needs the cluster: lmeval-setup bootstrap "
                f"{' '.join(step.bootstrap_flags)}")
    say(plan.diff(f"LMEvalJob {plan.name}").rstrip("\n"))
    return True
