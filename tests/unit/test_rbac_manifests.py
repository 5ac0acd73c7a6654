"""deploy/rbac/ is what the code asks for (issue 13 item 6): the files are generated from the preflight access
lists, every read platform.detect makes on every release line is in DETECT_READS, and every permission a real
plan's preflight or a real revert record's preflight checks is granted by the shipped roles."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from doctor_support import cluster_snapshot

from lmeval_setup.bootstrap import rbac
from lmeval_setup.bootstrap.plan import Desired, make_plan
from lmeval_setup.kube.access import Access
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect

REPO = Path(__file__).resolve().parents[2]
RBAC_DIR = REPO / "deploy" / "rbac"
PROFILES = sorted(R.PROFILES)


def test_the_shipped_files_are_what_the_code_generates() -> None:
    for name, documents in rbac.manifests().items():
        shipped = (RBAC_DIR / name).read_text(encoding="utf-8")
        assert shipped == rbac.render(name, documents), (
            f"deploy/rbac/{name} differs from the access lists in the code: "
            "run python -m lmeval_setup.bootstrap.rbac deploy/rbac")
    assert sorted(p.name for p in RBAC_DIR.glob("*.yaml")) == sorted(rbac.manifests())


class RecordingSource:
    """An ObjectSource over a snapshot that notes every read as the Access RBAC would check."""

    def __init__(self, snapshot: Any) -> None:
        self.snapshot = snapshot
        self.reads: list[Access] = []

    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> Any:
        self.reads.append(Access(verb="get", group=group, resource=plural, namespace=namespace, name=name))
        return self.snapshot.get(group, version, plural, name, namespace)

    def list(self, group: str, version: str, plural: str, namespace: str | None = None,
             label_selector: str | None = None) -> Any:
        self.reads.append(Access(verb="list", group=group, resource=plural, namespace=namespace))
        return self.snapshot.list(group, version, plural, namespace, label_selector)

    def served_versions(self, group: str) -> list[str]:
        return self.snapshot.served_versions(group)  # discovery: allowed to every authenticated user


def _generic(access: Access, apps_ns: str) -> Access:
    namespace = rbac.APPS_NS if access.namespace == apps_ns else access.namespace
    return Access(verb=access.verb, group=access.group, resource=access.resource, namespace=namespace,
                  name=None if access.resource == "datascienceclusters" else access.name)


def _grants(rules: list[dict[str, Any]], access: Access) -> bool:
    return any(access.group in rule["apiGroups"] and access.resource in rule["resources"]
               and access.verb in rule["verbs"]
               and ("resourceNames" not in rule or access.name in rule["resourceNames"]) for rule in rules)


@functools.cache
def _rules(command: str, namespaced: bool) -> list[dict[str, Any]]:
    documents = list(yaml.safe_load_all((RBAC_DIR / f"{command}.yaml").read_text()))
    wanted = f"lmeval-setup-{command}-namespace" if namespaced else f"lmeval-setup-{command}"
    return next(d["rules"] for d in documents if d["metadata"]["name"] == wanted)


def _granted(command: str, access: Access) -> bool:
    if command == "doctor":  # one ClusterRole, bound cluster-wide
        return _grants(_rules("doctor", False), access)
    return _grants(_rules(command, access.namespace is not None), access)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_read_detect_makes_is_declared_and_granted(profile: str) -> None:
    for snapshot in (cluster_snapshot(profile), cluster_snapshot(profile, trustyai="Removed")):
        source = RecordingSource(snapshot)
        facts = detect(source)
        declared = set(rbac.detect_reads())
        for read in source.reads:
            generic = _generic(read, facts.applications_namespace)
            assert generic in declared, f"{profile}: detect reads {read.describe()}; add it to rbac.detect_reads"
            for command in ("bootstrap", "revert", "doctor"):
                assert _granted(command, generic), f"{command} role lacks {read.describe()}"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_permission_a_real_preflight_checks_is_granted(profile: str) -> None:
    for snapshot in (cluster_snapshot(profile, trustyai="Removed"), cluster_snapshot(profile)):
        facts = detect(snapshot)
        for desired in (Desired(True, True), Desired(False, False)):
            plan = make_plan(facts, desired, rbac.REVERT_RECORD)
            for access in plan.required_access:
                assert _granted("bootstrap", _generic(access, facts.applications_namespace)), access.describe()


def test_nothing_is_granted_that_no_check_asks_for() -> None:
    """Least privilege: each rule's every verb/resource/name is one the code's lists name."""
    for command, accesses in (("bootstrap", rbac.bootstrap_access()), ("revert", rbac.revert_access()),
                              ("doctor", rbac.doctor_access()), ("provision", rbac.provision_access())):
        for document in yaml.safe_load_all((RBAC_DIR / f"{command}.yaml").read_text()):
            for rule in document["rules"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames", [None]):
                        assert any(a.group == rule["apiGroups"][0] and a.resource == rule["resources"][0]
                                   and a.verb == verb and a.name == name for a in accesses), (command, rule, verb)


def test_no_secrets_and_no_wildcards() -> None:
    for path in RBAC_DIR.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            for rule in document["rules"]:
                assert "secrets" not in rule["resources"] and "*" not in rule["verbs"] + rule["resources"], path


class _Identity:
    """For apply.require_access: an identity that may neither escalate nor bind roles (a namespace role)."""

    def can_i(self, *_: Any) -> bool:
        return False


@pytest.mark.parametrize("live_kind", [None, "ServiceAccount", "Role", "RoleBinding", "LMEvalJob"])
def test_every_permission_provisions_preflight_checks_is_granted_in_its_namespace(live_kind: str | None) -> None:
    """A real provision plan (nothing there yet; or one object of ours live and different, so updated or
    replaced) needs only what lmeval-setup-provision-namespace grants, the namespace itself aside."""
    from lmeval_setup.provision import apply as A
    from lmeval_setup.provision.objects import MANAGED_BY, MANAGED_BY_LABEL, ProvisionSpec, build_objects

    spec = ProvisionSpec(namespace="ci", job_name="nightly", base_url="http://m/v1/completions", tokenizer="t",
                         tasks=["arc_easy"])
    objects = [o for o in build_objects(spec) if o["kind"] != "Namespace"]
    steps = []
    for obj in objects:
        live = None
        if obj["kind"] == live_kind:  # ours, with another spec hash / roleRef / rules
            live = {**obj, "metadata": {**obj["metadata"], "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                                        "annotations": {}}, "rules": [], "roleRef": {}}
        steps.append(A._decide(obj, live))
    assert any(step.action in ("update", "replace") for step in steps) == (live_kind is not None)
    rules = _rules("provision", True)
    for need in A._needs(_Identity(), steps):  # type: ignore[arg-type]
        assert need.namespace == "ci"
        assert _grants(rules, Access(verb=need.verb, group=need.group, resource=need.resource)), need.describe()
