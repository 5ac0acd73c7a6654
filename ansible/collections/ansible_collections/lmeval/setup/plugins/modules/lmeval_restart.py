#!/usr/bin/python
"""lmeval.setup.lmeval_restart: an idempotent rollout restart of the TrustyAI operator."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_restart
author: [lmeval-setup maintainers (@lmeval-setup)]
short_description: Restart the TrustyAI operator only when its pod has not loaded the current lmes-* config
description:
  - Asks C(lmeval_setup.platform.operator_state.startup_config_state) whether every operator pod loaded
    the current start-up keys (the pod's lmeval-setup.opendatahub.io/lmes-config-hash stamp, else its
    manager's start time against the last write to a start-up key); restarts when not, including when
    the timestamps cannot tell (same second), and never on a release that reads the permissions per job.
  - Restarting is stamping the hash on the pod template (recorded for revert first), then waiting until
    the new ReplicaSet is available and no pod of an older one is left. Stamping the same hash is a
    no-op, so concurrent runs start at most one rollout.
  - Check mode sends the patch as a server-side dry run and does not wait.
extends_documentation_fragment: [lmeval.setup.k8s_auth_options]
options:
  namespace: {type: str, required: true, description: the applications namespace}
  deployment: {type: str, default: trustyai-service-operator-controller-manager, description: Deployment}
  configmap: {type: str, default: trustyai-service-operator-config, description: operator ConfigMap}
  release_line: {type: str, required: true, description: "release table key, e.g. rhoai-2.22"}
  config_changed: {type: bool, default: false, description: "this run changed (check mode: would change)
    start-up keys of the ConfigMap; a dry run's ConfigMap does not show it"}
  revert_configmap: {type: str, default: lmeval-setup-revert, description: revert record name}
  timeout: {type: int, default: 300, description: seconds to wait for the rollout}
"""

EXAMPLES = r"""
- lmeval.setup.lmeval_restart:
    namespace: redhat-ods-applications
    release_line: rhoai-2.22
"""

RETURN = r"""
restarted: {description: whether this call started a rollout, returned: always, type: bool}
config_hash: {description: hash of the start-up configuration, returned: when the Deployment exists, type: str}
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
            "namespace": {"type": "str", "required": True},
            "deployment": {"type": "str", "default": "trustyai-service-operator-controller-manager"},
            "configmap": {"type": "str", "default": "trustyai-service-operator-config"},
            "release_line": {"type": "str", "required": True},
            "config_changed": {"type": "bool", "default": False},
            "revert_configmap": {"type": "str", "default": "lmeval-setup-revert"},
            "timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    require_lmeval_setup(module)
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.restart import Restarter
    from lmeval_setup.bootstrap.revert import RevertStore
    from lmeval_setup.platform.releases import RELEASES
    p = module.params
    try:
        release = next(r for r in RELEASES if r.key == p["release_line"])
        kube = connect(module)
        restarter = Restarter(kube, p["namespace"], p["deployment"], p["configmap"])
        result = restarter.run(
            release=release, dry_run=module.check_mode, config_changed=p["config_changed"],
            revert=RevertStore(kube, p["namespace"], p["revert_configmap"]), wait_timeout=p["timeout"],
        )
    except Exception as exc:
        fail(module, exc)
        return
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
