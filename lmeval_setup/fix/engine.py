"""The fix engine: findings + the catalog's fix data -> a corrected LMEvalJob, a plan and a merge patch.

Rules stay pure detectors; this module only consumes their findings. One job is fixed in rounds: the
findings given (the doctor's, which include what only logs show) are fixed first, then the spec rules run
again on the corrected job and what they still find is fixed too (changing the model type to
local-completions makes the served-model name the tokenizer, LME004, which the next round fills in),
until nothing fixable is left. Every value filled in carries its source. A rule is fixed at most once,
so a fix that does not take cannot loop.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import yaml

from lmeval_setup.fix import values as V
from lmeval_setup.rules.catalog import SEVERITY_ORDER, Fix, Severity, autofix_for, rule
from lmeval_setup.rules.finding import Finding
from lmeval_setup.rules.spec import Job, spec_findings, target_for

JSON = dict[str, Any]
NAMED_LISTS = frozenset({"modelArgs", "genArgs", "env"})  # lists of {name, ...}: merged by name
MAX_ROUNDS = 6
# The spec fields a corrected job keeps from the original's metadata; the rest is the server's.
FIX_LABEL = "lmeval-setup.io/fixes"
FIX_RULES_ANNOTATION = "lmeval-setup.io/fixed-rules"


@dataclass(frozen=True)
class FilledValue:
    path: str  # "spec.modelArgs[base_url]"
    value: Any
    source: str


@dataclass(frozen=True)
class Step:
    """One finding and what is done about it."""

    rule_id: str
    message: str
    _: KW_ONLY
    kind: str  # "job-patch", "bootstrap" or "manual"
    values: tuple[FilledValue, ...] = ()
    bootstrap_flags: tuple[str, ...] = ()
    manual: tuple[str, ...] = ()  # what a person must do, when kind is "manual"

    @property
    def automatic(self) -> bool:
        return self.kind != "manual"


@dataclass
class JobPlan:
    name: str
    namespace: str | None
    _: KW_ONLY
    original: JSON
    fixed: JSON
    steps: list[Step] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.original.get("spec") != self.fixed.get("spec")

    @property
    def fixed_rules(self) -> list[str]:
        return [s.rule_id for s in self.steps if s.kind == "job-patch"]

    @property
    def manual(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "manual"]

    @property
    def bootstrap_flags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for s in self.steps for f in s.bootstrap_flags))

    @property
    def needs_bootstrap(self) -> bool:
        return any(s.kind == "bootstrap" or s.bootstrap_flags for s in self.steps)

    def merge_patch(self) -> JSON:
        """The RFC 7386 merge patch that turns the original spec into the fixed one."""
        return {"spec": merge_patch_between(self.original.get("spec") or {}, self.fixed.get("spec") or {})}

    def diff(self, label: str | None = None) -> str:
        name = label or (f"LMEvalJob {self.namespace}/{self.name}" if self.namespace else self.name)
        before = _yaml({"spec": self.original.get("spec")})
        after = _yaml({"spec": self.fixed.get("spec")})
        return "".join(difflib.unified_diff(before, after, f"{name} (now)", f"{name} (fixed)"))


def _yaml(doc: JSON) -> list[str]:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).splitlines(keepends=True)


def plan_job(job: JSON, findings: list[Finding], ctx: V.FixContext, *, permissions: Any = None,
             min_severity: Severity = "info") -> JobPlan:
    """Fix one LMEvalJob: `findings` are those already known for it (doctor: spec, status, pod, logs).

    One finding at a time, lowest rule ID first, re-checking the spec after every change: a finding the
    spec rules no longer report (LME026 once LME003 made the model local-completions) is not fixed,
    and one a change uncovers (LME004 after LME005) is. Findings only logs or the pod showed stay."""
    meta = job.get("metadata") or {}
    plan = JobPlan(str(meta.get("name", "")), meta.get("namespace"), original=job, fixed=copy.deepcopy(job))
    spec_visible = {f.rule_id for f in spec_findings(job, permissions, target=target_for(job), release=ctx.release)}
    given = {f.rule_id: f for f in findings if f.target.kind in ("LMEvalJob", "") or f.target.file}
    handled: set[str] = set()
    current = _current(plan.fixed, permissions, ctx.release)
    for _ in range(MAX_ROUNDS * 4):
        candidates: dict[str, Finding] = {
            rid: f for rid, f in given.items() if rid not in spec_visible or rid in current}
        for rid, f in current.items():
            if rid in spec_visible and rid not in given:
                continue  # the caller left it out (--ignore, --rule, a suppression): not ours to fix
            candidates.setdefault(rid, f)
        todo = sorted(rid for rid, f in candidates.items() if rid not in handled
                      and SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[min_severity])
        if not todo:
            break
        handled.add(todo[0])
        step = _fix_one(candidates[todo[0]], plan.fixed, ctx)
        plan.steps.append(step)
        if step.kind == "job-patch":
            current = _current(plan.fixed, permissions, ctx.release)
    return plan


def _current(doc: JSON, permissions: Any, release: Any) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for f in spec_findings(doc, permissions, target=target_for(doc), release=release):
        out.setdefault(f.rule_id, f)
    return out


def _fix_one(finding: Finding, doc: JSON, ctx: V.FixContext) -> Step:
    fix = autofix_for(finding.rule, ctx.release)  # never a field the cluster's line prunes
    if fix.kind == "manual":
        return Step(finding.rule_id, finding.message, kind="manual", manual=fix.steps or (finding.rule.fix,))
    if fix.kind == "bootstrap":
        return Step(finding.rule_id, finding.message, kind="bootstrap", bootstrap_flags=fix.bootstrap_flags)
    return _job_patch(finding, fix, doc, ctx)


def _job_patch(finding: Finding, fix: Fix, doc: JSON, ctx: V.FixContext) -> Step:
    static, _ = _split_template(fix.patch)
    trial = copy.deepcopy(doc)
    apply_patch(trial, static, only_missing=fix.only_missing)
    filled: dict[str, V.Inferred] = {}
    for key in fix.fills:
        inferred = V.FILLS[key](Job(trial, target_for(trial), release=ctx.release), ctx)
        if inferred is None:
            return Step(finding.rule_id, finding.message, kind="manual",
                        manual=(f"cannot infer {key} for this job: {finding.rule.fix}",))
        filled[key] = inferred
    patch = _render(fix.patch, {k: v.value for k, v in filled.items()})
    before = copy.deepcopy(doc)
    apply_patch(doc, patch, only_missing=fix.only_missing)
    shown = _describe(before, doc, patch, filled, finding.rule_id)
    flags = fix.bootstrap_flags if _permission_missing(fix, ctx) else ()
    return Step(finding.rule_id, finding.message, kind="job-patch", values=tuple(shown), bootstrap_flags=flags)


def _permission_missing(fix: Fix, ctx: V.FixContext) -> bool:
    if fix.needs_permission == "online":
        return ctx.online_permitted is False
    if fix.needs_permission == "code_execution":
        return ctx.code_execution_permitted is False
    return False


def _split_template(patch: Any) -> tuple[Any, set[str]]:
    """The patch without its "{fill}" values (applied first, so fills see e.g. the new model type)."""
    fills: set[str] = set()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            kept = {}
            for k, v in node.items():
                if _fill_key(v):
                    fills.add(_fill_key(v))  # type: ignore[arg-type]
                    continue
                if isinstance(v, list) and any(_fill_key(i.get("value")) for i in v if isinstance(i, dict)):
                    v = [i for i in v if not (isinstance(i, dict) and _fill_key(i.get("value")))]
                    if not v:
                        continue
                kept[k] = strip(v)
            return kept
        return node

    return strip(patch), fills


def _fill_key(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1].isidentifier():
        return value[1:-1]
    return None


def _render(node: Any, filled: dict[str, Any]) -> Any:
    key = _fill_key(node)
    if key is not None:
        return filled[key]
    if isinstance(node, dict):
        return {k: _render(v, filled) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, filled) for v in node]
    return node


def apply_patch(target: JSON, patch: JSON, *, only_missing: bool = False) -> None:
    """JSON merge patch, except that lists of {name, value} merge by name (only_missing: add, never overwrite)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            apply_patch(target[key], value, only_missing=only_missing)
        elif key in NAMED_LISTS and isinstance(value, list) and isinstance(target.get(key), list):
            _merge_named(target[key], value, only_missing)
        elif only_missing and key in target:
            continue
        else:
            target[key] = copy.deepcopy(value)


def _merge_named(items: list[Any], entries: list[Any], only_missing: bool) -> None:
    for entry in entries:
        existing = next((i for i in items if isinstance(i, dict) and i.get("name") == entry.get("name")), None)
        if existing is None:
            items.append(copy.deepcopy(entry))
        elif not only_missing:
            existing.update(copy.deepcopy(entry))


def _describe(before: JSON, after: JSON, patch: JSON, filled: dict[str, V.Inferred], rule_id: str) -> list[FilledValue]:
    """Each value the fix set, with its source: inferred ones say from what, static ones are the catalog's."""
    by_value = {repr(v.value): v.source for v in filled.values()}
    out = []
    for path, value in _changes(before.get("spec") or {}, after.get("spec") or {}, "spec"):
        out.append(FilledValue(path, value, by_value.get(repr(value), f"{rule_id} fix (rule catalog)")))
    return out


def _changes(before: Any, after: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in after:
            if before.get(key) != after[key]:
                out += _changes(before.get(key), after[key], f"{path}.{key}")
        return out
    if _is_named_list(before) and _is_named_list(after):
        old = {i["name"]: i for i in before}
        return [(f"{path}[{i['name']}]", i.get("value")) for i in after if old.get(i["name"]) != i]
    return [(path, after)]


def _is_named_list(node: Any) -> bool:
    return isinstance(node, list) and all(isinstance(i, dict) and "name" in i for i in node)


def merge_patch_between(before: Any, after: Any) -> Any:
    """RFC 7386: the patch that turns `before` into `after` (lists are replaced whole)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return copy.deepcopy(after)
    patch: JSON = {}
    for key in before:
        if key not in after:
            patch[key] = None
    for key, value in after.items():
        if key not in before:
            patch[key] = copy.deepcopy(value)
        elif before[key] != value:
            patch[key] = merge_patch_between(before[key], value)
    return patch


def fixed_job_manifest(plan: JobPlan, name: str) -> JSON:
    """The corrected job to create: the fixed spec under `name`, labelled with the job it fixes."""
    meta = plan.original.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != FIX_LABEL}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("kubectl.kubernetes.io/")}
    labels[FIX_LABEL] = plan.name
    annotations[FIX_RULES_ANNOTATION] = ",".join(
        s.rule_id for s in plan.steps if s.kind == "job-patch" or s.kind == "bootstrap")
    return {
        "apiVersion": plan.original.get("apiVersion"),
        "kind": plan.original.get("kind", "LMEvalJob"),
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels, "annotations": annotations},
        "spec": copy.deepcopy(plan.fixed.get("spec") or {}),
    }


def rule_title(rule_id: str) -> str:
    return rule(rule_id).title
