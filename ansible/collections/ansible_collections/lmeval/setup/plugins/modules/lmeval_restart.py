#!/usr/bin/python
"""lmeval.setup.lmeval_restart: an idempotent rollout restart of the TrustyAI operator."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_restart
short_description: Restart the TrustyAI operator only when its pod has not loaded the current lmes-* config
description:
  - Compares the pod-template annotation lmeval-setup.opendatahub.io/lmes-config-hash with the hash of
    the ConfigMap's start-up keys; for pods never restarted by us, compares pod start time with the
    ConfigMap's last managedFields time.
  - Restarting is stamping the hash on the pod template (recorded for revert first), then waiting for
    the new ReplicaSet to be available and the old pods to be gone. Stamping the same hash is a no-op,
    so concurrent runs start at most one rollout.
  - Keys the release re-reads per job (C(ignore_keys)) never cause a restart.
  - Check mode sends the patch as a server-side dry run and does not wait.
options:
  kubeconfig: {type: path, description: kubeconfig file}
  context: {type: str, description: kubeconfig context}
  namespace: {type: str, required: true, description: the applications namespace}
  deployment: {type: str, default: trustyai-service-operator-controller-manager, description: Deployment}
  configmap: {type: str, default: trustyai-service-operator-config, description: operator ConfigMap}
  ignore_keys: {type: list, elements: str, default: [], description: keys read per job}
  config_changed: {type: bool, default: false, description: this run changed start-up keys of the ConfigMap}
  revert_configmap: {type: str, default: lmeval-setup-revert, description: revert record name}
  timeout: {type: int, default: 300, description: seconds to wait for the rollout}
"""

EXAMPLES = r"""
- lmeval.setup.lmeval_restart:
    namespace: redhat-ods-applications
    config_changed: "{{ patched_configmap is changed }}"
"""

RETURN = r"""
restarted: {description: whether this call started a rollout, returned: always, type: bool}
config_hash: {description: hash of the start-up configuration, returned: when the Deployment exists, type: str}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible puts docs first)


def main() -> None:
    from lmeval_setup.bootstrap.ansible_support import CONNECTION_ARGS, connect, fail
    from lmeval_setup.bootstrap.restart import Restarter
    from lmeval_setup.bootstrap.revert import RevertStore

    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "namespace": {"type": "str", "required": True},
            "deployment": {"type": "str", "default": "trustyai-service-operator-controller-manager"},
            "configmap": {"type": "str", "default": "trustyai-service-operator-config"},
            "ignore_keys": {"type": "list", "elements": "str", "default": []},
            "config_changed": {"type": "bool", "default": False},
            "revert_configmap": {"type": "str", "default": "lmeval-setup-revert"},
            "timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        kube = connect(p)
        restarter = Restarter(kube, p["namespace"], p["deployment"], p["configmap"])
        result = restarter.run(
            ignore_keys=tuple(p["ignore_keys"]), config_changed=p["config_changed"], dry_run=module.check_mode,
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
