"""deploy/rbac/ on the real apiserver (issue 13 item 6): ServiceAccounts bound to exactly the shipped roles
run `bootstrap` (a real run), `doctor -A`, `provision` in a namespace (apply, a second run, teardown) and
`revert` as the admin does; with one rule's verb taken away, bootstrap and provision stop at their preflight
with the documented one line and exit 4, writing nothing.

One control plane and one rhoai-2.22 sandbox ("fresh": TrustyAI Removed, so bootstrap plans every kind of
write and the preflight checks them) for the module. The tests run in file order: the refused bootstrap on the
fresh cluster first, then the real bootstrap (the `bootstrapped` fixture) that provision needs, revert last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_support import sandbox
from testsupport import error_lines, require_controlplane_binaries, wait_for

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform.lost_poll import LOST_POLL_LINE, REPOLL_ANNOTATION, LostPollRecovery, operator_log_lines

pytestmark = pytest.mark.controlplane
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
RBAC = "rbac.authorization.k8s.io"
REVERT_RECORD = "lmeval-setup-revert"
SA_NS = "lmeval-setup-rbac"
APPS_NS = "redhat-ods-applications"
CI_NS = "lmeval-ci"  # the namespace provision runs in: it exists, the provisioner is bound there
DSC = resource_path("datasciencecluster.opendatahub.io", "v1", "datascienceclusters")


def _role(kube: Kube, body: dict[str, Any]) -> None:
    kube.apply(resource_path(RBAC, "v1", "clusterroles", name=body["metadata"]["name"]), body)


def _bind(kube: Kube, account: str, role: str, namespace: str | None = None) -> None:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    body = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": f"{account}-{role}"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": SA_NS}]}
    if namespace:
        body["metadata"]["namespace"] = namespace
    plural = "rolebindings" if namespace else "clusterrolebindings"
    kube.apply(resource_path(RBAC, "v1", plural, namespace, body["metadata"]["name"]), body)


def _authorized(kube: Kube, account: str, verb: str, group: str, resource: str,
                namespace: str | None = None) -> bool:
    """What the apiserver's authorizer answers for the ServiceAccount now (a SubjectAccessReview as admin)."""
    attributes = {"verb": verb, "group": group, "resource": resource, **({"namespace": namespace} if namespace else {})}
    review = kube.create(resource_path("authorization.k8s.io", "v1", "subjectaccessreviews"), {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": f"system:serviceaccount:{SA_NS}:{account}", "resourceAttributes": attributes}})
    return bool(review.get("status", {}).get("allowed"))


def _role_in_force(kube: Kube, body: dict[str, Any], account: str, probe: tuple[str, str, str, str | None],
                   allowed: bool) -> None:
    """Apply a ClusterRole and wait until the authorizer's cache has it (RBAC reads roles through informers: under
    load a command started at once could still be judged by the previous rules)."""
    _role(kube, body)
    wait_for(f"{account} {'may' if allowed else 'may not'} {' '.join(p or '' for p in probe)}",
             lambda: _authorized(kube, account, *probe) == allowed, timeout=60)


def _token_kubeconfig(plane: Any, kube: Kube, account: str, path: Path) -> str:
    kube.apply(resource_path("", "v1", "serviceaccounts", SA_NS, account),
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": SA_NS}})
    token = kube.create(resource_path("", "v1", "serviceaccounts", SA_NS, account, "token"),
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}})["status"]["token"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": account,
        "clusters": [{"name": "c", "cluster": {"server": plane.server,
                                               "certificate-authority": str(Path(plane.certs) / "ca.crt")}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "c", "user": account}}]}))
    path.chmod(0o600)
    return str(path)


class Identities:
    def __init__(self, plane: Any, admin: Kube, tmp: Path) -> None:
        self.plane, self.admin = plane, admin
        self.roles = {d["metadata"]["name"]: d for name in ("bootstrap", "doctor", "provision", "revert")
                      for d in yaml.safe_load_all((REPO / "deploy" / "rbac" / f"{name}.yaml").read_text())}
        for body in self.roles.values():
            _role(admin, body)
        admin.apply(resource_path("", "v1", "namespaces", name=SA_NS),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SA_NS}})
        self.bootstrapper = _token_kubeconfig(plane, admin, "bootstrapper", tmp / "bootstrapper.kubeconfig")
        _bind(admin, "bootstrapper", "lmeval-setup-bootstrap")
        _bind(admin, "bootstrapper", "lmeval-setup-bootstrap-namespace", APPS_NS)
        self.doctor = _token_kubeconfig(plane, admin, "doctor", tmp / "doctor.kubeconfig")
        _bind(admin, "doctor", "lmeval-setup-doctor")
        self.reverter = _token_kubeconfig(plane, admin, "reverter", tmp / "reverter.kubeconfig")
        _bind(admin, "reverter", "lmeval-setup-revert")
        _bind(admin, "reverter", "lmeval-setup-revert-namespace", APPS_NS)
        admin.apply(resource_path("", "v1", "namespaces", name=CI_NS),
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CI_NS}})
        self.provisioner = _token_kubeconfig(plane, admin, "provisioner", tmp / "provisioner.kubeconfig")
        _bind(admin, "provisioner", "lmeval-setup-provision")
        _bind(admin, "provisioner", "lmeval-setup-provision-platform", APPS_NS)
        _bind(admin, "provisioner", "lmeval-setup-provision-namespace", CI_NS)


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Identities]:
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("rbac-plane"))
    plane.start()
    try:
        with sandbox(plane, "rhoai-2.22", "fresh"):
            yield Identities(plane, Kube.connect(str(plane.kubeconfig)), tmp_path_factory.mktemp("rbac-ids"))
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def run(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TMPDIR": str(tmp)})


def test_one_verb_less_stops_bootstrap_at_preflight_with_one_line_and_exit_4(identities: Identities,
                                                                            tmp_path: Path) -> None:
    role = json.loads(json.dumps(identities.roles["lmeval-setup-bootstrap"]))
    dsc_rule = next(r for r in role["rules"] if r["resources"] == ["datascienceclusters"])
    dsc_rule["verbs"].remove("patch")
    dsc = DSC
    before = [d["metadata"]["resourceVersion"] for d in identities.admin.get(dsc)["items"]]
    probe = ("patch", "datasciencecluster.opendatahub.io", "datascienceclusters", None)
    _role_in_force(identities.admin, role, "bootstrapper", probe, allowed=False)
    try:
        proc = run("bootstrap", "--dry-run", "--kubeconfig", identities.bootstrapper, tmp=tmp_path)
    finally:
        _role_in_force(identities.admin, identities.roles["lmeval-setup-bootstrap"], "bootstrapper", probe,
                       allowed=True)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert len(lines) == 1 and "RBAC preflight failed" in lines[0], lines
    assert "patch datascienceclusters.datasciencecluster.opendatahub.io" in lines[0], lines
    assert [d["metadata"]["resourceVersion"] for d in identities.admin.get(dsc)["items"]] == before


@pytest.fixture(scope="module")
def bootstrapped(identities: Identities, tmp_path_factory: pytest.TempPathFactory) -> Identities:
    """A real bootstrap as the ServiceAccount bound to the shipped bootstrap roles (after the refusal test,
    which needs the fresh cluster): every write, the wait and the operator's restart with exactly those rights."""
    proc = run("bootstrap", "--kubeconfig", identities.bootstrapper, "-o", "json",
               tmp=tmp_path_factory.mktemp("bootstrap-run"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert identities.admin.get_or_none(resource_path("", "v1", "configmaps", APPS_NS, REVERT_RECORD)) is not None
    return identities


def test_the_shipped_roles_are_enough_for_bootstrap_and_doctor(bootstrapped: Identities, tmp_path: Path) -> None:
    as_admin = run("doctor", "-A", "-o", "json", "--kubeconfig", str(bootstrapped.plane.kubeconfig), tmp=tmp_path)
    as_doctor = run("doctor", "-A", "-o", "json", "--kubeconfig", bootstrapped.doctor, tmp=tmp_path)
    assert as_doctor.returncode == as_admin.returncode, as_doctor.stderr[-2000:]
    rules = [f["id"] for f in json.loads(as_doctor.stdout)["findings"]]
    assert rules == [f["id"] for f in json.loads(as_admin.stdout)["findings"]], rules
    assert "LME111" not in rules  # the cluster layer was readable


PROVISION = ["provision", "-n", CI_NS, "--job-name", "rbac-ci", "--model", "granite", "--base-url",
             "http://granite-predictor.models.svc.cluster.local:8080/v1/completions", "--tokenizer",
             "ibm-granite/granite-3.1-8b-instruct", "--tasks", "arc_easy", "--limit", "2",
             "--allow-online", "--no-allow-code-execution"]
RUNNER_OBJECTS = (("", "serviceaccounts"), (RBAC, "roles"), (RBAC, "rolebindings"),
                  ("trustyai.opendatahub.io", "lmevaljobs"))


def _provisioned(kube: Kube) -> list[str]:
    return [f"{plural}/{o['metadata']['name']}" for group, plural in RUNNER_OBJECTS
            for o in kube.list_items(resource_path(group, "v1alpha1" if group.startswith("trusty") else "v1",
                                                   plural, CI_NS), labelSelector="app.kubernetes.io/managed-by")]


def test_one_verb_less_stops_provision_before_it_writes(bootstrapped: Identities, tmp_path: Path) -> None:
    """Without `create lmevaljobs` (the last write), provision would have made the ServiceAccount, Role and
    RoleBinding before failing: its preflight refuses first, naming the verb."""
    role = json.loads(json.dumps(bootstrapped.roles["lmeval-setup-provision-namespace"]))
    job_rule = next(r for r in role["rules"] if r["resources"] == ["lmevaljobs"])
    job_rule["verbs"].remove("create")
    probe = ("create", "trustyai.opendatahub.io", "lmevaljobs", CI_NS)
    _role_in_force(bootstrapped.admin, role, "provisioner", probe, allowed=False)
    try:
        proc = run(*PROVISION, "--kubeconfig", bootstrapped.provisioner, tmp=tmp_path)
    finally:
        _role_in_force(bootstrapped.admin, bootstrapped.roles["lmeval-setup-provision-namespace"], "provisioner",
                       probe, allowed=True)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert len(lines) == 1 and "nothing was written" in lines[0], lines
    assert "create lmevaljobs.trustyai.opendatahub.io in namespace lmeval-ci" in lines[0], lines
    assert _provisioned(bootstrapped.admin) == []


def test_the_shipped_roles_are_enough_for_provision_in_a_namespace(bootstrapped: Identities,
                                                                  tmp_path: Path) -> None:
    """Apply (the runner Role is created without `escalate`: the identity holds what it grants), a second run
    that writes nothing, then teardown, each as the ServiceAccount bound to provision's three shipped roles."""
    as_provisioner = ["--kubeconfig", bootstrapped.provisioner]
    first = run(*PROVISION, *as_provisioner, tmp=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    made = _provisioned(bootstrapped.admin)
    assert sorted(made) == ["lmevaljobs/rbac-ci", "rolebindings/rbac-ci-runner", "roles/rbac-ci-runner",
                            "serviceaccounts/rbac-ci-runner"], made
    second = run(*PROVISION, *as_provisioner, tmp=tmp_path)
    assert second.returncode == 0 and "created" not in second.stderr, second.stderr[-3000:]
    # Waiting reads and watches the job (and, should it fail, the doctor reads its pods, events and logs): the
    # job may end either way within the short timeout (exit 1 failed, 5 timed out), never on a refused read.
    waited = run(*PROVISION, "--wait", "--timeout", "2", *as_provisioner, tmp=tmp_path)
    assert waited.returncode in (0, 1, 5) and "forbidden" not in waited.stderr.lower(), waited.stderr[-3000:]
    down = run("provision", "-n", CI_NS, "--job-name", "rbac-ci", "--teardown", *as_provisioner, tmp=tmp_path)
    assert down.returncode == 0, down.stderr[-3000:]
    assert _provisioned(bootstrapped.admin) == []
    assert bootstrapped.admin.get_or_none(resource_path("", "v1", "namespaces", name=CI_NS)) is not None  # kept


def test_the_lost_poll_touch_with_real_rbac(bootstrapped: Identities) -> None:
    """The recovery `provision --wait` and `doctor --fix --wait` share (platform/lost_poll.py), judged by the real
    authorizer: the shipped provision roles may check the job's pod and touch the job; the read-only doctor role
    (no `get pods`) and a reader without `patch lmevaljobs` are refused, and the wait goes on without a touch
    instead of failing; an identity with no rights in the operator's namespace reads no manager log."""
    admin = bootstrapped.admin
    path = resource_path("trustyai.opendatahub.io", "v1alpha1", "lmevaljobs", CI_NS, "rbac-lost")
    admin.apply(path, {"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
                       "metadata": {"name": "rbac-lost", "namespace": CI_NS},
                       "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]},
                                "modelArgs": [{"name": "model", "value": "granite"}]}})
    pod = resource_path("", "v1", "pods", CI_NS, "rbac-lost")
    wait_for("the operator's pod for rbac-lost", lambda: admin.get_or_none(pod) is not None, timeout=60)
    # The job as the lost poll leaves it (the operator here may have finished it since: only the dict says so).
    job = {**admin.get(path), "status": {"state": "Scheduled"}}
    lost = [f'ERROR\t{LOST_POLL_LINE}\t{{"LMEvalJob": {{"name":"rbac-lost","namespace":"{CI_NS}"}}, '
            f'"error": "pods \\"rbac-lost\\" already exists"}}']
    pod_reader = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "rbac-lost-pod-reader"},
                  "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    _role_in_force(admin, pod_reader, "doctor", ("get", "", "pods", CI_NS), allowed=False)
    _bind(admin, "doctor", "rbac-lost-pod-reader", CI_NS)
    wait_for("doctor may get pods in lmeval-ci", lambda: _authorized(admin, "doctor", "get", "", "pods", CI_NS),
             timeout=60)
    try:
        as_reader = LostPollRecovery(Kube.connect(bootstrapped.doctor), lambda: lost).nudge([job])
    finally:
        admin.delete(resource_path(RBAC, "v1", "rolebindings", CI_NS, "doctor-rbac-lost-pod-reader"))
    wait_for("doctor may not get pods again", lambda: not _authorized(admin, "doctor", "get", "", "pods", CI_NS),
             timeout=60)
    as_doctor = LostPollRecovery(Kube.connect(bootstrapped.doctor), lambda: lost).nudge([job])
    assert (as_reader, as_doctor) == ([], [])
    assert REPOLL_ANNOTATION not in (admin.get(path)["metadata"].get("annotations") or {})

    provisioner = Kube.connect(bootstrapped.provisioner)
    assert LostPollRecovery(provisioner, lambda: lost).nudge([job]) == [f"{CI_NS}/rbac-lost"]
    assert admin.get(path)["metadata"]["annotations"][REPOLL_ANNOTATION] == "1"
    ci_only = _token_kubeconfig(bootstrapped.plane, admin, "ci-only", Path(bootstrapped.provisioner).parent
                                / "ci-only.kubeconfig")
    _bind(admin, "ci-only", "lmeval-setup-provision-namespace", CI_NS)  # no rights in the operator's namespace
    assert operator_log_lines(Kube.connect(ci_only), APPS_NS) == []
    admin.delete(path)


def test_the_shipped_revert_roles_are_enough_to_revert(bootstrapped: Identities, tmp_path: Path) -> None:
    """Last: revert as the ServiceAccount bound to the shipped revert roles puts the fresh cluster back
    (TrustyAI Removed, as the sandbox started) and deletes the record."""
    proc = run("revert", "--kubeconfig", bootstrapped.reverter, "-o", "json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    admin = bootstrapped.admin
    assert admin.get_or_none(resource_path("", "v1", "configmaps", APPS_NS, REVERT_RECORD)) is None
    (dsc,) = admin.get(DSC)["items"]
    assert dsc["spec"]["components"]["trustyai"]["managementState"] == "Removed", dsc["spec"]["components"]
