#!/usr/bin/python
"""lmeval.setup.lmeval_preflight: SelfSubjectAccessReviews for every verb the run will use."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lmeval_preflight
author: [lmeval-setup maintainers (@lmeval-setup)]
short_description: Check RBAC for every verb a bootstrap run will use, before any write
description:
  - One SelfSubjectAccessReview per entry of C(access) (the plan's C(required_access)).
  - Fails with reason C(rbac) and lists every missing permission; never writes anything else.
extends_documentation_fragment: [lmeval.setup.k8s_auth_options]
options:
  access: {type: list, elements: dict, required: true, description: "verb/group/resource/namespace/name entries"}
"""

EXAMPLES = r"""
- lmeval.setup.lmeval_preflight:
    access: "{{ detected.plan.required_access }}"
"""

RETURN = r"""
missing: {description: the permissions the identity lacks, returned: always, type: list}
checked: {description: how many reviews were made, returned: always, type: int}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible puts docs first)
from ansible_collections.lmeval.setup.plugins.module_utils.k8s_auth import (  # noqa: E402
    connect,
    connection_spec,
    require_lmeval_setup,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**connection_spec(), "access": {"type": "list", "elements": "dict", "required": True}},
        supports_check_mode=True,
    )
    require_lmeval_setup(module)
    from lmeval_setup.bootstrap.ansible_support import fail
    from lmeval_setup.bootstrap.preflight import access_from_dicts, missing_access, missing_message
    try:
        wanted = access_from_dicts(module.params["access"])
        missing = missing_access(connect(module), wanted)
    except Exception as exc:
        fail(module, exc)
        return
    listed = [a.describe() for a in missing]
    if missing:
        module.fail_json(msg=missing_message(missing), reason="rbac", missing=listed, checked=len(wanted))
    module.exit_json(changed=False, missing=[], checked=len(wanted))


if __name__ == "__main__":
    main()
