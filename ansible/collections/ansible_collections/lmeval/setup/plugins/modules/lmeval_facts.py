#!/usr/bin/python
"""lmeval.setup.lmeval_facts: ClusterFacts and the bootstrap plan, from lmeval_setup (never re-implemented)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_facts
short_description: Detect OpenShift AI / Open Data Hub and plan the LM-Eval bootstrap
description:
  - Calls C(lmeval_setup.platform.detect.detect) on the cluster and returns C(ClusterFacts.as_dict()) as C(facts).
  - Returns C(plan), what bootstrap must change for the requested permissions on this release.
  - Fails with a distinct C(reason) (no_openshift_ai, unreachable, wrong_context, unauthorised, forbidden, ...).
extends_documentation_fragment: [lmeval.setup.k8s_auth_options]
options:
  allow_online: {type: bool, default: true, description: permit LMEvalJobs online access}
  allow_code_execution: {type: bool, default: true, description: permit LMEvalJobs remote code execution}
  revert_configmap: {type: str, default: lmeval-setup-revert, description: name of the revert record}
requirements: [lmeval_setup importable by the module interpreter]
"""

EXAMPLES = r"""
- name: Detect the platform
  lmeval.setup.lmeval_facts:
    kubeconfig: "{{ lmeval_kubeconfig | default(omit) }}"
  register: detected
"""

RETURN = r"""
facts: {description: "ClusterFacts.as_dict() plus dsc_generation and trustyai_ready (what lmeval_wait for=trustyai
  would return at once), dsc_config_current (trustyai-dsc-config already holds the requested permissions) and
  restart_settled (lmeval_restart, run now without a ConfigMap change, would neither restart nor wait)",
  returned: success, type: dict}
plan: {description: what must change (patches, blockers, required_access), returned: success, type: dict}
reason: {description: failure kind, returned: failure, type: str}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible puts docs first)
from ansible_collections.lmeval.setup.plugins.module_utils.k8s_auth import connect, connection_spec  # noqa: E402


def restart_settled(kube: Any, facts: Any) -> bool:
    """The restart decision and rollout check lmeval_restart makes, from this read: lets a no-op run skip it."""
    from lmeval_setup.bootstrap.restart import rollout_readiness
    from lmeval_setup.platform.operator_state import startup_config_of

    deployment = facts.operator.deployment
    if deployment is None:
        return False
    if startup_config_of(facts).restart_needed:
        return False
    return rollout_readiness(kube, deployment, facts.applications_namespace).rolled_out


def main() -> None:
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.plan import Desired, make_plan
    from lmeval_setup.bootstrap.wait import trustyai_state
    from lmeval_setup.kube.source import KubeSource
    from lmeval_setup.platform import releases as R
    from lmeval_setup.platform.detect import detect

    module = AnsibleModule(
        argument_spec={
            **connection_spec(),
            "allow_online": {"type": "bool", "default": True},
            "allow_code_execution": {"type": "bool", "default": True},
            "revert_configmap": {"type": "str", "default": "lmeval-setup-revert"},
        },
        supports_check_mode=True,
    )
    try:
        kube = connect(module)
        facts = detect(KubeSource(kube))
        desired = Desired(module.params["allow_online"], module.params["allow_code_execution"])
        plan = make_plan(facts, desired, module.params["revert_configmap"])
        settled = restart_settled(kube, facts)
    except Exception as exc:  # every failure becomes one line and a reason
        fail(module, exc)
        return
    summary = facts.as_dict()
    summary["dsc_generation"] = facts.dsc.get("metadata", {}).get("generation")
    # Lets the role skip the wait (one module run) when TrustyAI is already ready; a KServe failure
    # is left to lmeval_wait, which reports it with its reason.
    try:
        summary["trustyai_ready"] = trustyai_state(facts.dsc, facts.release, facts.operator.deployment)[0]
    except Exception:
        summary["trustyai_ready"] = False
    # The same comparison lmeval_wait for=dsc_config polls on: true means that wait has nothing to wait for.
    wanted = {R.DSC_CM_ONLINE: str(desired.online).lower(), R.DSC_CM_CODE: str(desired.code_execution).lower()}
    dsc_config = (facts.dsc_config or {}).get("data") or {}
    summary["dsc_config_current"] = all(dsc_config.get(k) == v for k, v in wanted.items())
    summary["restart_settled"] = settled
    module.exit_json(changed=False, facts=summary, plan=plan.as_dict())


if __name__ == "__main__":
    main()
