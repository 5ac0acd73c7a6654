"""Every permission `lmeval-setup provision` uses in a namespace that exists: the source of deploy/rbac/provision.yaml.

The writes are not listed by hand: they are what apply.require_access checks (apply._needs) for a run that
creates, updates and replaces each object provision applies (build_objects, the Namespace aside: an existing
namespace is only read, never written). Creating the runner Role needs every permission the Role grants, and
binding it the same (no `escalate`, no `bind`): _needs adds them when the identity lacks those verbs, as the
apiserver checks them. The reads here are provision's own calls: the objects' gets, the job's watch, teardown's
lists by label, --fix's InferenceServices. What it asks of the layers it calls, platform.detect's reads and,
when the job failed, the doctor's reads of its namespace and of the operator's log, come from their lists in
bootstrap.rbac (rbac.provision_access), which writes deploy/rbac/provision.yaml.

Names are left open: the runner objects are named after the job (`<job>-runner`), which the user chooses.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.kube.access import Access
from lmeval_setup.platform import releases as R
from lmeval_setup.provision import apply as A
from lmeval_setup.provision.objects import ProvisionSpec, build_objects

NAMESPACE = "<namespace>"  # the namespace provision runs in (a RoleBinding there)
ANY_JOB = "lmeval-ci"  # the objects' names are dropped below: any job name gives the same list
# Every action apply can decide for an object of ours that writes (apply._decide).
WRITING_ACTIONS = ("create", "update", "replace")


class _MayNotEscalate:
    """require_access asks whether the identity may `escalate` roles or `bind` them; a namespace role grants
    neither, so the Role's own rules are needed (the worst case, and the least privilege)."""

    def can_i(self, *_: Any) -> bool:
        return False


def _a(verb: str, group: str, resource: str, namespace: str | None = NAMESPACE) -> Access:
    return Access(verb=verb, group=group, resource=resource, namespace=namespace)


def _unnamed(access: Access) -> Access:
    return Access(verb=access.verb, group=access.group, resource=access.resource, namespace=access.namespace)


def provision_writes() -> list[Access]:
    """apply._needs for every writing action on every object provision applies in an existing namespace."""
    objects = [o for o in build_objects(_any_spec()) if o["kind"] != "Namespace"]
    needs: list[Access] = []
    for action in WRITING_ACTIONS:
        steps = [A.Step(obj, None if action == "create" else obj, action) for obj in objects]
        needs += A._needs(_MayNotEscalate(), steps)  # type: ignore[arg-type]  # only can_i is asked
    return [_unnamed(n) for n in needs]


def _any_spec() -> ProvisionSpec:
    return ProvisionSpec(namespace=NAMESPACE, job_name=ANY_JOB, base_url="http://model/v1/completions",
                         tokenizer="t", tasks=["arc_easy"])


def provision_reads() -> list[Access]:
    kinds = [A.KINDS[kind] for kind in ("ServiceAccount", "Role", "RoleBinding", "LMEvalJob")]
    return [
        _a("get", "", "namespaces"),  # apply.plan_objects reads the namespace (a RoleBinding there allows it)
        *[_a("get", group, plural) for group, _, plural, _ in kinds],  # apply.plan_objects, wait_gone
        *[_a("list", group, plural) for group, _, plural, _ in kinds],  # teardown's lists by label
        _a("watch", R.LMEVAL_GROUP, "lmevaljobs"),  # wait.wait_for_job
        _a("get", "", "pods"),  # apply.delete_job waits for the replaced job's pod
        _a("list", "serving.kserve.io", "inferenceservices"),  # --fix: base_url and tokenizer values
    ]


def provision_access() -> list[Access]:
    """provision's own calls in its namespace (bootstrap.rbac.provision_access adds the platform's and the
    doctor's reads)."""
    return list(dict.fromkeys(provision_reads() + provision_writes()))
