"""Apply provision's objects idempotently, and tear down exactly what provision created.

Observe everything, decide everything, check access, and only then write: a job of the same name that
is someone else's, or a permission the identity lacks (creating a Role also needs every permission the
Role grants), stops the run before its first write, so a refused run leaves nothing behind. Writes
happen only when something differs, so a second run with the same arguments issues reads only and
every resourceVersion stays as it was:
- Namespace: created when absent (then labelled and annotated as ours); an existing namespace is
  left untouched and is never deleted by teardown.
- ServiceAccount / Role / RoleBinding: created when absent; when ours and different, re-applied
  (server-side apply, field manager `lmeval-setup`); an object of the same name that is not ours is
  left alone and reported.
- LMEvalJob: compared by the spec-hash annotation. A different spec replaces the job (delete, wait
  until gone, create): older operators ignore edits to a completed job, and a fresh job also clears
  the previous run's status and results, so a CI run never reads stale scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmeval_setup.errors import PrerequisiteError, UsageError, WaitTimeout
from lmeval_setup.kube.access import Access
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION
from lmeval_setup.provision.objects import (
    CREATED_ANNOTATION,
    CREATED_BY_PROVISION,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SPEC_HASH_ANNOTATION,
)

JSON = dict[str, Any]
Log = Callable[[str], None]

# kind -> (group, version, plural, namespaced)
KINDS: dict[str, tuple[str, str, str, bool]] = {
    "Namespace": ("", "v1", "namespaces", False),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings", True),
    "LMEvalJob": (LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", True),
}
TEARDOWN_ORDER = ("LMEvalJob", "RoleBinding", "Role", "ServiceAccount")


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str  # created | unchanged | updated | replaced | kept (exists, not ours) | deleted | absent

    def line(self) -> str:
        return f"{self.kind}/{self.name}: {self.action}"


def object_path(obj: JSON) -> str:
    group, version, plural, namespaced = KINDS[obj["kind"]]
    meta = obj["metadata"]
    return resource_path(group, version, plural, meta.get("namespace") if namespaced else None, meta["name"])


def collection_path(kind: str, namespace: str) -> str:
    group, version, plural, namespaced = KINDS[kind]
    return resource_path(group, version, plural, namespace if namespaced else None)


def is_ours(obj: JSON | None) -> bool:
    return bool(obj) and (obj or {}).get("metadata", {}).get("labels", {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def contains(desired: Any, live: Any) -> bool:
    """True when every field we set has the same value live (the server may add more)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(contains(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(desired) == len(live)
                and all(contains(d, x) for d, x in zip(desired, live, strict=True)))
    return bool(desired == live)


# -- apply ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """What apply will do to one object, decided from what is live before anything is written."""

    obj: JSON
    live: JSON | None
    action: str  # create | unchanged | kept | update | replace

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "replace")


def apply_objects(kube: Kube, objects: list[JSON], *, log: Log = lambda _: None,
                  delete_timeout: float = 120.0) -> list[Change]:
    steps = plan_objects(kube, objects)
    require_access(kube, steps)
    changes = []
    for step in steps:
        change = _execute(kube, step, delete_timeout)
        log(change.line())
        changes.append(change)
    return changes


def plan_objects(kube: Kube, objects: list[JSON]) -> list[Step]:
    """Read every object and decide; a conflict raises here, before any write."""
    return [_decide(obj, kube.get_or_none(object_path(obj))) for obj in objects]


def _decide(obj: JSON, live: JSON | None) -> Step:
    kind = obj["kind"]
    if live is None:
        return Step(obj, live, "create")
    if kind == "Namespace":
        return Step(obj, live, "unchanged" if is_ours(live) else "kept")
    if not is_ours(live):
        if kind == "LMEvalJob":
            raise UsageError(
                f"LMEvalJob {obj['metadata']['namespace']}/{obj['metadata']['name']} exists and was not created "
                "by lmeval-setup; nothing was written",
                hint="choose another --job-name or delete it first",
            )
        return Step(obj, live, "kept")
    if kind == "LMEvalJob":
        return Step(obj, live, "unchanged" if _job_current(obj, live) else "replace")
    if contains(_comparable(obj), live):
        return Step(obj, live, "unchanged")
    if kind == "RoleBinding" and live.get("roleRef") != obj.get("roleRef"):
        return Step(obj, live, "replace")  # roleRef is immutable: the only way to change it is a new binding
    return Step(obj, live, "update")


def _job_current(obj: JSON, live: JSON) -> bool:
    wanted = obj["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    have = (live["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    return wanted == have and not live["metadata"].get("deletionTimestamp")


def require_access(kube: Kube, steps: list[Step]) -> None:
    """Every permission the planned writes need, or PrerequisiteError listing all that are missing.

    Nothing to write costs no request. An identity allowed everything (cluster-admin) costs one review;
    others one per permission. RBAC refuses to create a Role granting what its creator does not hold
    (unless it may `escalate`), and a RoleBinding to a Role the creator may not `bind` unless it holds
    the Role's permissions: those are checked as the apiserver will check them.
    """
    if not any(step.writes for step in steps):
        return
    if kube.can_i("*", "*", "*"):
        return
    needs = list(dict.fromkeys(_needs(kube, steps)))
    missing = [n for n in needs if not kube.can_i(n.verb, n.group, n.resource, n.namespace, n.name)]
    if missing:
        raise PrerequisiteError("provision needs permissions this identity lacks, nothing was written: "
                                + describe_needs(missing))


def describe_needs(needs: list[Access]) -> str:
    """`get, list, watch pods in namespace ci; create roles.rbac.authorization.k8s.io in namespace ci`."""
    verbs: dict[tuple[str, str, str | None, str | None], list[str]] = {}
    for need in needs:
        verbs.setdefault((need.group, need.resource, need.namespace, need.name), []).append(need.verb)
    parts = []
    for (group, resource, namespace, name), listed in verbs.items():
        what = f"{resource}.{group}" if group else resource
        named = f" {name!r}" if name else ""
        where = f" in namespace {namespace}" if namespace else ""
        parts.append(f"{', '.join(listed)} {what}{named}{where}")
    return "; ".join(parts)


def _needs(kube: Kube, steps: list[Step]) -> list[Access]:
    needs: list[Access] = []
    for step in (s for s in steps if s.writes):
        group, _, plural, namespaced = KINDS[step.obj["kind"]]
        namespace = step.obj["metadata"].get("namespace") if namespaced else None
        name = step.obj["metadata"]["name"]
        verbs = {"create": ["create"], "update": ["patch"], "replace": ["delete", "create"]}[step.action]
        needs += [Access(v, group, resource=plural, namespace=namespace,
                         name=None if v == "create" else name) for v in verbs]
        if step.obj["kind"] == "Role" and not kube.can_i("escalate", group, plural, namespace, name):
            needs += _role_grants(step.obj)
        if step.obj["kind"] == "RoleBinding" and not kube.can_i("bind", group, "roles", namespace,
                                                                step.obj["roleRef"]["name"]):
            role = next((s.obj for s in steps if s.obj["kind"] == "Role"), None)
            bind = Access("bind", group, resource="roles", namespace=namespace, name=step.obj["roleRef"]["name"])
            needs += _role_grants(role) if role else [bind]
    return needs


def _role_grants(role: JSON) -> list[Access]:
    namespace = role["metadata"].get("namespace")
    return [Access(verb, group, resource=resource, namespace=namespace)
            for rule in role.get("rules") or []
            for group in rule.get("apiGroups") or [""]
            for resource in rule.get("resources") or []
            for verb in rule.get("verbs") or []]


def _execute(kube: Kube, step: Step, delete_timeout: float) -> Change:
    kind, name = step.obj["kind"], step.obj["metadata"]["name"]
    if step.action in ("unchanged", "kept"):
        return Change(kind, name, step.action)
    if step.action == "create":
        _create(kube, step.obj)
        return Change(kind, name, "created")
    if step.action == "update":
        kube.apply(object_path(step.obj), step.obj)
        return Change(kind, name, "updated")
    if kind == "LMEvalJob":
        delete_job(kube, step.live or {}, delete_timeout)
    else:
        kube.delete(object_path(step.obj))
    _create(kube, step.obj)
    return Change(kind, name, "replaced")


def _comparable(obj: JSON) -> JSON:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _create(kube: Kube, obj: JSON) -> None:
    meta = obj["metadata"]
    group, version, plural, namespaced = KINDS[obj["kind"]]
    kube.create(resource_path(group, version, plural, meta.get("namespace") if namespaced else None), obj)


def delete_job(kube: Kube, live: JSON, timeout: float) -> None:
    """Delete a job and wait for it and its pod to be gone.

    The pod is named after the job, so a new job of the same name would fail with `pods "<job>"
    already exists` while the old pod lingers. Background propagation plus an explicit wait for the
    old pod: foreground deletion would also work, but the garbage collector only learns about a new
    CRD at its next discovery resync (up to 30 s).
    """
    meta = live["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid")
    path = object_path({**live, "kind": "LMEvalJob"})
    kube.delete(path)
    wait_gone(kube, path, timeout, what=f"LMEvalJob {name}")
    pod_path = resource_path("", "v1", "pods", namespace, (live.get("status") or {}).get("podName") or name)
    pod = kube.get_or_none(pod_path)
    owners = {ref.get("uid") for ref in (pod or {}).get("metadata", {}).get("ownerReferences") or []}
    if pod is not None and uid in owners:
        wait_gone(kube, pod_path, timeout, what=f"pod {name} of the deleted LMEvalJob")


def wait_gone(kube: Kube, path: str, timeout: float, *, what: str) -> None:
    """Poll until a deleted object is gone (finalizers: the operator removes the job's own)."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while kube.get_or_none(path) is not None:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{what} still exists {timeout:.0f}s after it was deleted",
                              hint="a finalizer is waiting for its controller (is the TrustyAI operator running?)")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


# -- teardown ---------------------------------------------------------------------------------------------
def teardown(kube: Kube, namespace: str, instance: str, *, log: Log = lambda _: None,
             timeout: float = 180.0) -> list[Change]:
    """Delete what this provision instance created, newest first; the namespace only if we made it."""
    changes: list[Change] = []
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{INSTANCE_LABEL}={instance}"
    for kind in TEARDOWN_ORDER:
        for obj in _list(kube, kind, namespace, selector):
            if kind == "LMEvalJob":
                delete_job(kube, obj, timeout)
            else:
                kube.delete(object_path({**obj, "kind": kind}))
            change = Change(kind, obj["metadata"]["name"], "deleted")
            log(change.line())
            changes.append(change)
    change = _teardown_namespace(kube, namespace, timeout)
    log(change.line())
    changes.append(change)
    return changes


def _list(kube: Kube, kind: str, namespace: str, selector: str) -> list[JSON]:
    try:
        return list(kube.list_items(collection_path(kind, namespace), labelSelector=selector))
    except ApiError as exc:
        if exc.not_found:  # namespace or CRD gone: nothing of ours there
            return []
        raise


def _teardown_namespace(kube: Kube, namespace: str, timeout: float) -> Change:
    path = resource_path("", "v1", "namespaces", None, namespace)
    live = kube.get_or_none(path)
    if live is None:
        return Change("Namespace", namespace, "absent")
    created = (live["metadata"].get("annotations") or {}).get(CREATED_ANNOTATION) == CREATED_BY_PROVISION
    if not (created and is_ours(live)):
        return Change("Namespace", namespace, "kept (existed before provision)")
    others = _list(kube, "LMEvalJob", namespace, f"{MANAGED_BY_LABEL}={MANAGED_BY}")
    if others:
        names = ", ".join(o["metadata"]["name"] for o in others)
        return Change("Namespace", namespace, f"kept (other provisioned jobs remain: {names})")
    kube.delete(path)
    wait_gone(kube, path, timeout, what=f"namespace {namespace}")
    return Change("Namespace", namespace, "deleted")
