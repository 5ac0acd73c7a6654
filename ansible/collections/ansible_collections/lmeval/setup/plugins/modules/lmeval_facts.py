#!/usr/bin/python
"""lmeval.setup.lmeval_facts: ClusterFacts and the bootstrap plan, from lmeval_setup (never re-implemented)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_facts
author: [lmeval-setup maintainers (@lmeval-setup)]
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
plan: {description: "what must change: patches, blockers, required_access", returned: success, type: dict}
reason: {description: failure kind, returned: failure, type: str}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible puts docs first)
from ansible_collections.lmeval.setup.plugins.module_utils.k8s_auth import (  # noqa: E402
    connect,
    connection_spec,
    require_lmeval_setup,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **connection_spec(),
            "allow_online": {"type": "bool", "default": True},
            "allow_code_execution": {"type": "bool", "default": True},
            "revert_configmap": {"type": "str", "default": "lmeval-setup-revert"},
        },
        supports_check_mode=True,
    )
    require_lmeval_setup(module)
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.noop import read_and_plan
    from lmeval_setup.bootstrap.plan import Desired
    try:
        kube = connect(module)
        desired = Desired(module.params["allow_online"], module.params["allow_code_execution"])
        # The one read and plan: the CLI answers a no-op bootstrap from the same function (bootstrap/noop.py).
        facts, plan = read_and_plan(kube, desired, module.params["revert_configmap"])
    except Exception as exc:  # every failure becomes one line and a reason
        fail(module, exc)
        return
    module.exit_json(changed=False, facts=facts, plan=plan)


if __name__ == "__main__":
    main()
