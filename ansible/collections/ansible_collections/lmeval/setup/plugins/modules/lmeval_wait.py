#!/usr/bin/python
"""lmeval.setup.lmeval_wait: wait on what each release reports (never on the overall DSC Ready)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_wait
author: [lmeval-setup maintainers (@lmeval-setup)]
short_description: Wait for TrustyAI to be ready, or for trustyai-dsc-config to reflect the DSC
description:
  - C(for=trustyai) polls the DSC until the release's TrustyAI condition is True, the component
    observedGeneration caught up, and the operator Deployment is available. Fails fast with reason
    C(kserve_missing) when TrustyAI reports the InferenceService CRD missing.
  - C(for=dsc_config) polls trustyai-dsc-config until it has the requested permissions.
  - Skipped in check mode (nothing was written, so there is nothing to wait for).
extends_documentation_fragment: [lmeval.setup.k8s_auth_options]
options:
  for: {type: str, choices: [trustyai, dsc_config], required: true, description: what to wait for}
  release_line: {type: str, description: "release table key, e.g. rhoai-2.22 (for=trustyai)"}
  dsc_api_version: {type: str, description: group/version of the DSC (for=trustyai)}
  dsc_name: {type: str, description: DSC name (for=trustyai)}
  namespace: {type: str, required: true, description: the applications namespace}
  online: {type: bool, default: true, description: expected permitOnline (for=dsc_config)}
  code_execution: {type: bool, default: true, description: expected permitCodeExecution (for=dsc_config)}
  timeout: {type: int, default: 600, description: seconds}
"""

EXAMPLES = r"""
- lmeval.setup.lmeval_wait:
    for: trustyai
    release_line: rhoai-2.22
    dsc_api_version: datasciencecluster.opendatahub.io/v1
    dsc_name: default-dsc
    namespace: redhat-ods-applications
"""

RETURN = r"""
detail: {description: what was seen when the wait ended, returned: success, type: str}
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
            "for": {"type": "str", "choices": ["trustyai", "dsc_config"], "required": True},
            "release_line": {"type": "str"},
            "dsc_api_version": {"type": "str"},
            "dsc_name": {"type": "str"},
            "namespace": {"type": "str", "required": True},
            "online": {"type": "bool", "default": True},
            "code_execution": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 600},
        },
        required_if=[("for", "trustyai", ("release_line", "dsc_api_version", "dsc_name"))],
        supports_check_mode=True,
    )
    require_lmeval_setup(module)
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.wait import wait_dsc_config, wait_trustyai_ready
    from lmeval_setup.kube.client import resource_path
    from lmeval_setup.platform.releases import RELEASES
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, detail="check mode: nothing was written, nothing to wait for")
    try:
        kube = connect(module)
        if p["for"] == "trustyai":
            release = next(r for r in RELEASES if r.key == p["release_line"])
            group, version = p["dsc_api_version"].split("/")
            dsc_path = resource_path(group, version, "datascienceclusters", None, p["dsc_name"])
            detail = wait_trustyai_ready(kube, dsc_path, p["namespace"], release, p["timeout"])
        else:
            detail = wait_dsc_config(kube, p["namespace"], p["online"], p["code_execution"], p["timeout"])
    except Exception as exc:
        fail(module, exc)
        return
    module.exit_json(changed=False, detail=detail)


if __name__ == "__main__":
    main()
