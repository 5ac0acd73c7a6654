#!/usr/bin/python
"""lmeval.setup.lmeval_revert: record prior values before a merge patch; restore them on revert."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_revert
author: [lmeval-setup maintainers (@lmeval-setup)]
short_description: Remember the prior value of every field bootstrap changes, and put them back
description:
  - C(state=record) reads the target object and, for each field the merge patch C(patch) would change,
    records its prior value (only the first one ever seen) in the ConfigMap C(record) in C(namespace).
  - C(state=restore) applies the inverse merge patches in reverse order, then deletes the record;
    a second restore finds no record and changes nothing.
  - C(state=preflight) reads the record and checks, with one SelfSubjectAccessReview each, every verb
    restoring it needs (get and patch of each recorded object, delete of the record); fails with reason
    C(rbac) listing all that is missing, before anything is written.
  - Check mode uses server-side dry run for every write.
extends_documentation_fragment: [lmeval.setup.k8s_auth_options]
options:
  state: {type: str, choices: [record, preflight, restore], default: record, description: what to do}
  namespace: {type: str, required: true, description: namespace of the record (the applications namespace)}
  record: {type: str, default: lmeval-setup-revert, description: ConfigMap name}
  target: {type: dict, description: "api_version, kind, plural, name, namespace of the object to patch (record)"}
  patch: {type: dict, description: the JSON merge patch about to be applied (record)}
"""

EXAMPLES = r"""
- lmeval.setup.lmeval_revert:
    namespace: redhat-ods-applications
    target: {api_version: datasciencecluster.opendatahub.io/v1, kind: DataScienceCluster,
             plural: datascienceclusters, name: default-dsc}
    patch: {spec: {components: {trustyai: {managementState: Managed}}}}
"""

RETURN = r"""
recorded: {description: fields recorded by this call, returned: state=record, type: list}
restored: {description: "per object, the fields put back", returned: state=restore, type: list}
checked: {description: how many access reviews were made, returned: state=preflight, type: int}
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
            "state": {"type": "str", "choices": ["record", "preflight", "restore"], "default": "record"},
            "namespace": {"type": "str", "required": True},
            "record": {"type": "str", "default": "lmeval-setup-revert"},
            "target": {"type": "dict"},
            "patch": {"type": "dict"},
        },
        required_if=[("state", "record", ("target", "patch"))],
        supports_check_mode=True,
    )
    require_lmeval_setup(module)
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.preflight import missing_access, missing_message
    from lmeval_setup.bootstrap.revert import ObjectRef, RevertStore
    params = module.params
    try:
        store = RevertStore(connect(module), params["namespace"], params["record"])
        if params["state"] == "record":
            t = params["target"]
            ref = ObjectRef(t["api_version"], t["kind"], plural=t["plural"], name=t["name"],
                            namespace=t.get("namespace"))
            added = store.record(ref, params["patch"], dry_run=module.check_mode)
            module.exit_json(changed=bool(added), recorded=[".".join(e.path) for e in added])
        if params["state"] == "preflight":
            wanted = store.required_access()
            missing = missing_access(store.kube, wanted)
            if missing:
                module.fail_json(msg=missing_message(missing), reason="rbac", missing=[a.describe() for a in missing],
                                 checked=len(wanted))
            module.exit_json(changed=False, missing=[], checked=len(wanted))
        restored = store.restore(dry_run=module.check_mode)
    except Exception as exc:
        fail(module, exc)
        return
    changed = any(r.get("changed") for r in restored) or bool(restored)
    diff = {"before": {r["object"]: r.get("before") for r in restored},
            "after": {r["object"]: r.get("after") for r in restored}}
    module.exit_json(changed=changed, restored=restored, diff=diff)


if __name__ == "__main__":
    main()
