"""Plan: from ClusterFacts and the requested permissions, what bootstrap must change, and nothing else.

Every decision that depends on the release comes from the release table through ClusterFacts
(`permission_layer`, `honours_managed_annotation`, `kueue_managed_blocks_dsc`, ...). The plan is pure
data (JSON-able) so the Ansible facts module can hand it to the role, which applies each patch with
kubernetes.core.k8s (merge patches, server-side dry run in check mode) only when the plan says so.

`operations` lists every write the run will make, one per role task that reports `changed`, each with
the API access it needs: the RBAC preflight checks exactly those (plus the reads), and a dry run counts
them. An operation on an object that does not exist yet (the operator ConfigMap and Deployment before
TrustyAI is up) is `predicted` from the release's shipped values: a server-side dry run cannot check it,
and the real run plans again once the platform has created the object.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any

from lmeval_setup.kube.access import Access
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import ClusterFacts
from lmeval_setup.platform.operator_state import startup_config_of

JSON = dict[str, Any]

CODE_EXECUTION_NOTE = (
    "code execution is permitted: LMEvalJobs that set allowCodeExecution: true may run code shipped with "
    "datasets, tasks and models (trust_remote_code, unitxt unverified code, HF code eval). "
    "Use --deny-code-execution for least privilege."
)
LEGACY_REVERT_WARNING = (
    "this release's platform operator does not honour opendatahub.io/managed on the TrustyAI ConfigMap: "
    "the next DataScienceCluster reconcile (a DSC edit, an operator restart, an upgrade) may put the "
    "lmes-allow-* values back; re-run lmeval-setup bootstrap after such events"
)


@dataclass(frozen=True)
class Desired:
    online: bool = True
    code_execution: bool = True


@dataclass(frozen=True)
class Blocker:
    """A prerequisite that makes the run stop before any write, with the fix."""

    rule: str
    reason: str
    _: KW_ONLY
    message: str
    fix: str


# The role's step names (task name prefixes before " | "): dry-run summaries count per step.
STEP_ENABLE, STEP_PERMISSIONS, STEP_RESTART = "Enable TrustyAI", "Permissions", "Restart"


@dataclass(frozen=True)
class Operation:
    """One write the run will make (one role task reporting `changed`), and the access it needs."""

    step: str
    action: str
    _: KW_ONLY
    access: tuple[Access, ...]
    predicted: bool = False  # its object does not exist yet: planned from the release defaults


@dataclass
class Plan:
    enable_trustyai: bool
    trustyai_patch: JSON
    _: KW_ONLY
    dsc_eval_patch: JSON | None
    configmap_annotation_patch: JSON | None
    configmap_data_patch: JSON | None
    restart_possible: bool
    blockers: list[Blocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    required_access: list[Access] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(
            self.enable_trustyai or self.dsc_eval_patch or self.configmap_annotation_patch
            or self.configmap_data_patch or self.restart_possible
        )

    def as_dict(self) -> JSON:
        data = asdict(self)
        data["writes"] = self.writes
        data["required_access"] = [{**asdict(a), "describe": a.describe()} for a in self.required_access]
        data["operations"] = [{"step": o.step, "action": o.action, "predicted": o.predicted,
                               "access": [a.describe() for a in o.access]} for o in self.operations]
        return data


def allow_deny(flag: bool) -> str:
    return "allow" if flag else "deny"


def true_false(flag: bool) -> str:
    return "true" if flag else "false"


def make_plan(facts: ClusterFacts, desired: Desired, revert_configmap: str) -> Plan:
    plan = Plan(
        enable_trustyai=facts.trustyai_state != "Managed",
        trustyai_patch={"spec": {"components": {"trustyai": {"managementState": "Managed"}}}},
        dsc_eval_patch=_dsc_eval_patch(facts, desired),
        configmap_annotation_patch=None,
        configmap_data_patch=None,
        restart_possible=False,
        blockers=_blockers(facts),
    )
    if facts.release.permission_layer == "configmap":
        _plan_configmap_layer(plan, facts, desired)
    if desired.code_execution:
        plan.notes.append(CODE_EXECUTION_NOTE)
    plan.operations = planned_operations(facts, plan, revert_configmap)
    plan.required_access = required_access(facts, plan.operations)
    return plan


def _dsc_eval_patch(facts: ClusterFacts, desired: Desired) -> JSON | None:
    """On 2.25+/3.x the DSC eval fields are the permission layer; the ConfigMap is left alone."""
    if facts.release.permission_layer != "dsc":
        return None
    wanted = {"permitOnline": allow_deny(desired.online), "permitCodeExecution": allow_deny(desired.code_execution)}
    current = facts.dsc_eval
    if all(current.get(k) == v for k, v in wanted.items()):
        return None
    return {"spec": {"components": {"trustyai": {"eval": {"lmeval": wanted}}}}}


def _plan_configmap_layer(plan: Plan, facts: ClusterFacts, desired: Desired) -> None:
    """2.16-2.24: the operator ConfigMap holds the permissions and is read at start-up."""
    wanted = {R.CM_ALLOW_ONLINE: true_false(desired.online), R.CM_ALLOW_CODE: true_false(desired.code_execution)}
    # Before TrustyAI is Managed the ConfigMap does not exist yet; the platform will create it with the
    # release's shipped values, so plan against those (the role re-plans once TrustyAI is up).
    data = ((facts.operator_config or {}).get("data")) or dict(facts.release.lmes_defaults)
    data_differs = any(data.get(k) != v for k, v in wanted.items())
    if data_differs:
        plan.configmap_data_patch = {"data": wanted}
        plan.restart_possible = True
    if facts.release.honours_managed_annotation:
        # Annotate BEFORE patching the data, or the platform's next reconcile puts the values back; and
        # whenever the wanted values are not the release's shipped ones, even if the ConfigMap already
        # holds them: unannotated, the platform reverts them to the defaults (LME104).
        defaults = facts.release.lmes_defaults
        custom = any(defaults.get(k) != v for k, v in wanted.items())
        if custom and not facts.configmap_annotated_unmanaged:
            plan.configmap_annotation_patch = {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}}
    elif data_differs or desired.online or desired.code_execution:
        plan.warnings.append(LEGACY_REVERT_WARNING)
    if not data_differs and startup_config_of(facts).restart_needed:
        plan.restart_possible = True


def _blockers(facts: ClusterFacts) -> list[Blocker]:
    blockers: list[Blocker] = []
    if not facts.kserve_crd_present:
        blockers.append(Blocker(
            rule="LME108",
            reason="kserve_missing",
            message=f"TrustyAI cannot become ready: the {R.KSERVE_ISVC_CRD} CRD is missing "
                    f"(TrustyAI would report '{R.KSERVE_MISSING_MESSAGE}')",
            fix=f"oc patch dsc {facts.dsc_name} --type=merge -p "
                "'{\"spec\":{\"components\":{\"kserve\":{\"managementState\":\"Managed\"}}}}' "
                "(or install KServe), then re-run lmeval-setup bootstrap",
        ))
    if facts.kueue_blocks_dsc_updates:
        blockers.append(Blocker(
            rule="LME109",
            reason="kueue_managed",
            message=f"DataScienceCluster {facts.dsc_name} cannot be updated: kueue is Managed and this release's "
                    f"admission webhook denies every update ('{R.KUEUE_MANAGED_MESSAGE}')",
            fix=f"set spec.components.kueue.managementState to Unmanaged or Removed on {facts.dsc_name} "
                "(install the Red Hat build of Kueue operator for Unmanaged), then re-run",
        ))
    return blockers


def planned_operations(facts: ClusterFacts, plan: Plan, revert_configmap: str) -> list[Operation]:
    """Every write of this run, in the role's order, each after recording the prior value for revert."""
    group = facts.dsc_api_version.split("/")[0]
    ns = facts.applications_namespace
    record = (Access("get", "", resource="configmaps", namespace=ns, name=revert_configmap),
              Access("create", "", resource="configmaps", namespace=ns),
              Access("patch", "", resource="configmaps", namespace=ns, name=revert_configmap))
    patch_dsc = Access("patch", group, resource="datascienceclusters", name=facts.dsc_name)
    patch_cm = Access("patch", "", resource="configmaps", namespace=ns, name=R.OPERATOR_CONFIGMAP)
    ops: list[Operation] = []

    def write(step: str, what: str, access: Access, predicted: bool = False) -> None:
        ops.append(Operation(step, f"record the prior {what}", access=record, predicted=predicted))
        ops.append(Operation(step, f"set {what}", access=(access,), predicted=predicted))

    if plan.enable_trustyai:
        write(STEP_ENABLE, "spec.components.trustyai.managementState", patch_dsc)
    if plan.dsc_eval_patch is not None:
        write(STEP_PERMISSIONS, "DSC eval.lmeval permitOnline / permitCodeExecution", patch_dsc)
    # Before TrustyAI is up the operator ConfigMap and Deployment do not exist: a dry run cannot check
    # these writes, the real run re-plans them against what the platform creates.
    cm_missing = facts.operator_config is None
    if plan.configmap_annotation_patch is not None:
        write(STEP_PERMISSIONS, f"{R.MANAGED_ANNOTATION} annotation", patch_cm, cm_missing)
    if plan.configmap_data_patch is not None:
        write(STEP_PERMISSIONS, "lmes-allow-online / lmes-allow-code-execution", patch_cm, cm_missing)
    if plan.restart_possible:
        restart = (Access("patch", "apps", resource="deployments", namespace=ns, name=R.OPERATOR_DEPLOYMENT),
                   Access("list", "apps", resource="replicasets", namespace=ns),
                   Access("list", "", resource="pods", namespace=ns), *record)
        ops.append(Operation(STEP_RESTART, "stamp the start-up configuration hash on the operator pod template "
                             "(a rollout restart)", access=restart,
                             predicted=cm_missing or facts.operator.deployment is None))
    return ops


def required_access(facts: ClusterFacts, operations: list[Operation]) -> list[Access]:
    """Every verb this run will use: the reads of every run, then what each planned write needs, so
    preflight lists all that is missing at once and never asks for more than the run does."""
    group = facts.dsc_api_version.split("/")[0]
    ns = facts.applications_namespace
    access = [
        Access("list", group, resource="datascienceclusters"),
        Access("get", group, resource="datascienceclusters", name=facts.dsc_name),
        Access("get", "apps", resource="deployments", namespace=ns, name=R.OPERATOR_DEPLOYMENT),
        Access("list", "", resource="pods", namespace=ns),
        # the restart step of any run that writes checks the rollout, restarting or not
        Access("list", "apps", resource="replicasets", namespace=ns),
        Access("get", "", resource="configmaps", namespace=ns, name=R.OPERATOR_CONFIGMAP),
    ]
    if facts.release.permission_layer == "dsc":
        access.append(Access("get", "", resource="configmaps", namespace=ns, name=R.DSC_CONFIGMAP))
    for op in operations:
        access.extend(op.access)
    return _unique(access)


def _unique(items: list[Access]) -> list[Access]:
    seen: set[Access] = set()
    return [a for a in items if not (a in seen or seen.add(a))]  # type: ignore[func-returns-value]
