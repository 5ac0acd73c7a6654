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
options:
  kubeconfig: {type: path, description: kubeconfig file (default KUBECONFIG, ~/.kube/config)}
  context: {type: str, description: kubeconfig context}
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
facts: {description: ClusterFacts.as_dict() plus dsc_generation, returned: success, type: dict}
plan: {description: what must change (patches, blockers, required_access), returned: success, type: dict}
reason: {description: failure kind, returned: failure, type: str}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible puts docs first)


def main() -> None:
    from lmeval_setup.bootstrap.ansible_support import CONNECTION_ARGS, connect, fail
    from lmeval_setup.bootstrap.plan import Desired, make_plan
    from lmeval_setup.platform.detect import KubeSource, detect

    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "allow_online": {"type": "bool", "default": True},
            "allow_code_execution": {"type": "bool", "default": True},
            "revert_configmap": {"type": "str", "default": "lmeval-setup-revert"},
        },
        supports_check_mode=True,
    )
    try:
        facts = detect(KubeSource(connect(module.params)))
        desired = Desired(module.params["allow_online"], module.params["allow_code_execution"])
        plan = make_plan(facts, desired, module.params["revert_configmap"])
    except Exception as exc:  # every failure becomes one line and a reason
        fail(module, exc)
        return
    summary = facts.as_dict()
    summary["dsc_generation"] = facts.dsc.get("metadata", {}).get("generation")
    module.exit_json(changed=False, facts=summary, plan=plan.as_dict())


if __name__ == "__main__":
    main()
