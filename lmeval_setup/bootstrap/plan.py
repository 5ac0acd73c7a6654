"""Plan: from ClusterFacts and the requested permissions, what bootstrap must change, and nothing else.

Every decision that depends on the release comes from the release table through ClusterFacts
(`permission_layer`, `honours_managed_annotation`, `kueue_managed_blocks_dsc`, ...). The plan is pure
data (JSON-able) so the Ansible facts module can hand it to the role, which applies each patch with
kubernetes.core.k8s (merge patches, server-side dry run in check mode) only when the plan says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
    message: str
    fix: str


@dataclass(frozen=True)
class Access:
    """One verb the run will use; checked by a SelfSubjectAccessReview in preflight."""

    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-scoped)"
        named = f" {self.name!r}" if self.name else ""
        return f"{self.verb} {what}{named}{where}"


@dataclass
class Plan:
    enable_trustyai: bool
    trustyai_patch: JSON
    dsc_eval_patch: JSON | None
    configmap_annotation_patch: JSON | None
    configmap_data_patch: JSON | None
    restart_possible: bool
    blockers: list[Blocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    required_access: list[Access] = field(default_factory=list)

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
    plan.required_access = required_access(facts, plan, revert_configmap)
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
        # Annotate BEFORE patching the data, or the platform's next reconcile puts the values back.
        if data_differs and not facts.configmap_annotated_unmanaged:
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


def required_access(facts: ClusterFacts, plan: Plan, revert_configmap: str) -> list[Access]:
    """Every verb this run will use, reads included, so preflight can list all that is missing at once."""
    group = facts.dsc_api_version.split("/")[0]
    ns = facts.applications_namespace
    access = [
        Access("list", group, "datascienceclusters"),
        Access("get", group, "datascienceclusters", name=facts.dsc_name),
        Access("get", "apps", "deployments", ns, R.OPERATOR_DEPLOYMENT),
        Access("list", "", "pods", ns),
        Access("get", "", "configmaps", ns, R.OPERATOR_CONFIGMAP),
    ]
    if facts.release.permission_layer == "dsc":
        access.append(Access("get", "", "configmaps", ns, R.DSC_CONFIGMAP))
    dsc_write = plan.enable_trustyai or plan.dsc_eval_patch is not None
    if dsc_write:
        access.append(Access("patch", group, "datascienceclusters", name=facts.dsc_name))
    if plan.configmap_annotation_patch or plan.configmap_data_patch:
        access.append(Access("patch", "", "configmaps", ns, R.OPERATOR_CONFIGMAP))
    if plan.restart_possible:
        access += [
            Access("patch", "apps", "deployments", ns, R.OPERATOR_DEPLOYMENT),
            Access("list", "apps", "replicasets", ns),
        ]
    if plan.writes:
        access += [
            Access("get", "", "configmaps", ns, revert_configmap),
            Access("create", "", "configmaps", ns),
            Access("patch", "", "configmaps", ns, revert_configmap),
        ]
    return _unique(access)


def _unique(items: list[Access]) -> list[Access]:
    seen: set[Access] = set()
    return [a for a in items if not (a in seen or seen.add(a))]  # type: ignore[func-returns-value]
