"""Cluster detectors: TrustyAI enablement, permission layers, operator health, KServe, Kueue.

Input is `ClusterFacts` (platform.detect over the Snapshot) plus a little context the facts do not carry
(are the CRDs in the snapshot at all). Per-release behaviour comes only from the release table row in the
facts (../shared/reference/platform-versions.md §3-§5, trustyai-operator.md §2):
- 2.16 (legacy deploy path): the platform operator re-applies the ConfigMap whatever its annotation;
- 2.17-2.24: it leaves a ConfigMap annotated opendatahub.io/managed: "false" alone, and the TrustyAI operator
  reads lmes-* keys once at start (restart needed);
- 2.25+/3.x: trustyai-dsc-config (from the DSC's eval.lmeval fields) overrides the ConfigMap's permissions
  and is read per job, so only the other lmes-* keys still need a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import ClusterFacts
from lmeval_setup.platform.operator_state import Verdict, startup_config_of
from lmeval_setup.rules.finding import Evidence, Finding, Target

JSON = dict[str, Any]
PERMISSION_KEYS = (R.CM_ALLOW_ONLINE, R.CM_ALLOW_CODE)


@dataclass(frozen=True)
class ClusterContext:
    """What the snapshot knows beyond ClusterFacts."""

    # False for must-gathers that did not collect CustomResourceDefinitions: absence then proves nothing.
    crds_known: bool = True


def dsc_target(facts: ClusterFacts) -> Target:
    return Target(kind="DataScienceCluster", name=facts.dsc_name)


def configmap_target(facts: ClusterFacts, name: str = R.OPERATOR_CONFIGMAP) -> Target:
    return Target(kind="ConfigMap", name=name, namespace=facts.applications_namespace)


def operator_target(facts: ClusterFacts) -> Target:
    return Target(kind="Deployment", name=R.OPERATOR_DEPLOYMENT, namespace=facts.applications_namespace)


def cluster_findings(facts: ClusterFacts, context: ClusterContext | None = None) -> list[Finding]:
    context = context or ClusterContext()
    findings: list[Finding] = []
    findings.extend(kueue_blocks(facts))
    if facts.trustyai_state != "Managed":
        # Nothing else about TrustyAI matters until it is enabled: one root cause, one rule.
        findings.extend(trustyai_not_managed(facts))
        return findings
    kserve = kserve_missing(facts, context)
    findings.extend(kserve)
    if not (kserve and facts.operator.deployment is None):
        # A failed KServe precondition stops the platform from deploying the operator: that is LME108's.
        findings.extend(operator_unavailable(facts))
    findings.extend(configmap_overridden(facts))
    findings.extend(configmap_edit_at_risk(facts))
    findings.extend(restart_pending(facts))
    return findings


def openshift_ai_missing(reason: str) -> Finding:
    return Finding("LME110", Target(kind="Cluster", name="cluster"), message=reason,
                   evidence=(Evidence("cluster", reason),))


def cluster_unreadable(reason: str) -> Finding:
    """LME111, not LME110: a namespace-scoped identity sees no DataScienceCluster because it may not look."""
    return Finding("LME111", Target(kind="Cluster", name="cluster"),
                   message="the cluster layer was not readable with these credentials; cluster rules were not checked",
                   evidence=(Evidence("cluster", reason),))


def trustyai_not_managed(facts: ClusterFacts) -> list[Finding]:
    state = facts.trustyai_state
    return [Finding(
        "LME101", dsc_target(facts), message=f"spec.components.trustyai.managementState is {state}",
        evidence=(Evidence("cluster", f"managementState: {state}", path="spec.components.trustyai.managementState"),),
    )]


def _trustyai_condition(facts: ClusterFacts) -> JSON | None:
    wanted = facts.release.trustyai_condition
    for cond in (facts.dsc.get("status") or {}).get("conditions") or []:
        if cond.get("type") in (wanted, "TrustyAIReady", "trustyaiReady"):
            return dict(cond)
    return None


def kserve_missing(facts: ClusterFacts, context: ClusterContext) -> list[Finding]:
    evidence: list[Evidence] = []
    cond = _trustyai_condition(facts)
    if cond and R.KSERVE_MISSING_MESSAGE in str(cond.get("message") or ""):
        evidence.append(Evidence("cluster", f"{cond.get('type')}: {cond.get('message')}",
                                 path=f"status.conditions[{cond.get('type')}]"))
    if context.crds_known and not facts.kserve_crd_present:
        evidence.append(Evidence("cluster", f"CustomResourceDefinition {R.KSERVE_ISVC_CRD} not found",
                                 path=f"customresourcedefinitions/{R.KSERVE_ISVC_CRD}"))
    if not evidence:
        return []
    return [Finding("LME108", dsc_target(facts),
                    message="TrustyAI needs KServe's InferenceService CRD, which this cluster does not have",
                    evidence=tuple(evidence))]


def operator_unavailable(facts: ClusterFacts) -> list[Finding]:
    deployment = facts.operator.deployment
    if deployment is None:
        return [Finding(
            "LME107", operator_target(facts),
            message=f"Deployment {R.OPERATOR_DEPLOYMENT} does not exist in {facts.applications_namespace}",
            evidence=(Evidence("cluster", "Deployment not found", path=f"deployments/{R.OPERATOR_DEPLOYMENT}"),),
        )]
    if facts.operator.available:
        return []
    status = deployment.get("status") or {}
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    if facts.operator_config is None and replicas != 0:
        return [_operator_crashes_without_configmap(facts)]
    text = (f"replicas: {replicas}, availableReplicas: {status.get('availableReplicas') or 0}, "
            f"pods: {', '.join(f'{p.name} ({p.phase})' for p in facts.operator.pods) or 'none'}")
    available = int(status.get("availableReplicas") or 0)
    # operator_state.deployment_readiness: every wanted replica available (one of two is not "running").
    why = "it is scaled to 0" if replicas == 0 else "no replica is available" if available == 0 \
        else f"only {available} of {replicas} replicas are available"
    crashes = _crash_loop_evidence(facts)
    if crashes:
        why += "; its manager is crash-looping (the container's log says why: `oc logs --previous`)"
    return [Finding("LME107", operator_target(facts), message=f"the TrustyAI operator is not running: {why}",
                    evidence=(Evidence("cluster", text, path="status.availableReplicas"), *crashes))]


def _crash_loop_evidence(facts: ClusterFacts) -> list[Evidence]:
    """Containers of the operator's pods in CrashLoopBackOff or last terminated non-zero (any cause: a bad
    image, an invalid start-up option, a missing permission), with exit code and restarts."""
    out = []
    for pod in facts.operator.pod_objects:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            last = (status.get("lastState") or {}).get("terminated") or {}
            if waiting.get("reason") == "CrashLoopBackOff" or last.get("exitCode") not in (None, 0):
                out.append(Evidence(
                    "pod", f"container {status.get('name')}: {waiting.get('reason') or 'restarting'}, last exit code "
                    f"{last.get('exitCode')}, restarts {status.get('restartCount', 0)}",
                    path=f"pod/{pod['metadata']['name']}.status.containerStatuses"))
    return out


def _operator_crashes_without_configmap(facts: ClusterFacts) -> Finding:
    """Every line's manager reads trustyai-service-operator-config at start and exits 1 when it is missing
    (the LMES controller's start-up runnable returns the Get error: controllers/lmes/lmevaljob_controller.go
    SetupWithManager, "failed to get configmap"; pinned by tests/unit/test_operator_sources.py)."""
    evidence = [Evidence("cluster", f"ConfigMap {R.OPERATOR_CONFIGMAP} not found in {facts.applications_namespace}",
                         path=f"configmaps/{R.OPERATOR_CONFIGMAP}")]
    crashing = []
    for pod in facts.operator.pod_objects:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            last = (status.get("lastState") or {}).get("terminated") or {}
            if waiting.get("reason") == "CrashLoopBackOff" or last.get("exitCode") not in (None, 0):
                crashing.append(pod["metadata"]["name"])
                evidence.append(Evidence(
                    "pod", f"container {status.get('name')}: {waiting.get('reason') or 'restarting'}, last exit code "
                    f"{last.get('exitCode')}, restarts {status.get('restartCount', 0)}",
                    path=f"pod/{pod['metadata']['name']}.status.containerStatuses"))
    state = "crash-looping" if crashing else "not available"
    return Finding(
        "LME107", operator_target(facts),
        message=f"the TrustyAI operator is {state}: its manager exits at start because ConfigMap "
        f"{R.OPERATOR_CONFIGMAP} is missing in {facts.applications_namespace}; the platform operator re-creates it "
        "while TrustyAI is Managed (or restore it), and the next restart of the pod starts the manager",
        evidence=tuple(evidence))


def configmap_overridden(facts: ClusterFacts) -> list[Finding]:
    """2.25+: the ConfigMap grants a permission the DSC-generated trustyai-dsc-config takes away."""
    if not facts.release.permissions_read_per_job or facts.dsc_config is None or facts.operator_config is None:
        return []
    cm = facts.configmap_permissions
    effective = facts.effective_permissions
    shipped = facts.release.lmes_defaults
    # Only an edit counts: ODH ships "true" in the ConfigMap and "deny" in the DSC, which is not a mistake.
    lost = [key for key, granted, actual in (
        (R.CM_ALLOW_ONLINE, cm.online, effective.online),
        (R.CM_ALLOW_CODE, cm.code_execution, effective.code_execution),
    ) if granted and not actual and shipped.get(key) != "true"]
    if not lost:
        return []
    dsc_data = facts.dsc_config.get("data") or {}
    evidence = [Evidence("cluster", f"{key}: \"true\"", path=f"{R.OPERATOR_CONFIGMAP}.data.{key}") for key in lost]
    for key in (R.DSC_CM_ONLINE, R.DSC_CM_CODE):
        if key in dsc_data:
            evidence.append(Evidence("cluster", f"{key}: \"{dsc_data[key]}\"", path=f"{R.DSC_CONFIGMAP}.data.{key}"))
    return [Finding(
        "LME105", configmap_target(facts),
        message=f"{', '.join(lost)} is \"true\" in the ConfigMap but {R.DSC_CONFIGMAP} (from the DSC) says false, "
        "and it wins",
        evidence=tuple(evidence),
    )]


def configmap_edit_at_risk(facts: ClusterFacts) -> list[Finding]:
    """Edits the platform operator will put back: unannotated (2.17+), or any edit at all on 2.16."""
    cm = facts.operator_config
    if cm is None:
        return []
    data = cm.get("data") or {}
    defaults = facts.release.lmes_defaults
    changed = sorted(k for k, v in defaults.items() if k in data and str(data[k]) != v)
    if facts.release.permissions_read_per_job:
        # On 2.25+ a permission edit is LME105's business (the DSC overrides it); do not report twice.
        changed = [k for k in changed if k not in PERMISSION_KEYS]
    if not changed:
        return []
    if facts.release.honours_managed_annotation and facts.configmap_annotated_unmanaged:
        return []
    evidence = [Evidence("cluster", f"{k}: \"{data[k]}\" (release default \"{defaults[k]}\")",
                         path=f"{R.OPERATOR_CONFIGMAP}.data.{k}") for k in changed]
    if facts.release.honours_managed_annotation:
        message = (f"{', '.join(changed)} differ from the release defaults but the ConfigMap lacks "
                   f"{R.MANAGED_ANNOTATION}: \"false\"; the platform operator will revert them")
    else:
        message = (f"{', '.join(changed)} differ from the release defaults; on {facts.release.key} the platform "
                   "operator re-applies the ConfigMap on its next reconcile whatever its annotation")
    return [Finding("LME104", configmap_target(facts), message=message, evidence=tuple(evidence))]


def restart_pending(facts: ClusterFacts) -> list[Finding]:
    """The running operator has not loaded the current start-up keys, or it cannot be told: the same
    answer (platform.operator_state) bootstrap acts on, so the doctor never says "run bootstrap" while
    bootstrap says there is nothing to do."""
    state = startup_config_of(facts)
    if state.loaded:
        return []
    evidence = tuple(Evidence("cluster", f"pod {p.pod}: {p.why}", path=f"pod/{p.pod}")
                     for p in state.pods if p.verdict is not Verdict.LOADED)
    if state.unrecorded:
        # What was read lacks the evidence (a must-gather has no managedFields): nothing is known to be
        # wrong with the cluster, so a note, not a warning; bootstrap (live) restarts if it cannot tell.
        message = ("whether the operator pod loaded the current lmes-* keys it reads at start cannot be told "
                   "from what was read (no record of when they last changed); a live `lmeval-setup doctor` can tell")
        return [Finding("LME106", operator_target(facts), message=message, evidence=evidence,
                        severity_override="info")]
    if state.verdict is Verdict.UNKNOWN:
        message = ("cannot tell whether the operator pod loaded the current lmes-* keys it reads at start "
                   "(its start and the last change fall in the same second, or a time is missing)")
    else:
        message = "the operator pod started before the last change to the lmes-* keys it reads at start"
    if not state.restart_policy:
        message += f"; on {facts.release.key} bootstrap does not restart it (permissions are read per job)"
    return [Finding("LME106", operator_target(facts), message=message, evidence=evidence)]


def kueue_blocks(facts: ClusterFacts) -> list[Finding]:
    if not facts.kueue_blocks_dsc_updates:
        return []
    return [Finding(
        "LME109", dsc_target(facts),
        message=f"kueue is Managed on {facts.release.key}: the DSC admission webhook refuses every DSC update "
        f"('{R.KUEUE_MANAGED_MESSAGE}')",
        evidence=(Evidence("cluster", "managementState: Managed", path="spec.components.kueue.managementState"),),
    )]
