"""deploy/rbac/ on the real apiserver (issue 13 item 6): ServiceAccounts bound to exactly the shipped roles
run `bootstrap --dry-run` and `doctor -A` as the admin does; with one rule's verb taken away, bootstrap stops
at its preflight with the documented one line and exit 4, writing nothing.

One control plane and one rhoai-2.22 sandbox ("fresh": TrustyAI Removed, so bootstrap plans every kind of
write and the preflight checks them) for the module.
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
from testsupport import error_lines, require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path

pytestmark = pytest.mark.controlplane
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
RBAC = "rbac.authorization.k8s.io"
SA_NS = "lmeval-setup-rbac"
APPS_NS = "redhat-ods-applications"


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
        self.roles = {d["metadata"]["name"]: d for name in ("bootstrap", "doctor")
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


def test_the_shipped_roles_are_enough_for_bootstrap_dry_run_and_doctor(identities: Identities,
                                                                      tmp_path: Path) -> None:
    proc = run("bootstrap", "--dry-run", "--kubeconfig", identities.bootstrapper, "-o", "json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    as_admin = run("doctor", "-A", "-o", "json", "--kubeconfig", str(identities.plane.kubeconfig), tmp=tmp_path)
    as_doctor = run("doctor", "-A", "-o", "json", "--kubeconfig", identities.doctor, tmp=tmp_path)
    assert as_doctor.returncode == as_admin.returncode, as_doctor.stderr[-2000:]
    rules = [f["id"] for f in json.loads(as_doctor.stdout)["findings"]]
    assert rules == [f["id"] for f in json.loads(as_admin.stdout)["findings"]], rules
    assert "LME111" not in rules  # the cluster layer was readable


def test_one_verb_less_stops_bootstrap_at_preflight_with_one_line_and_exit_4(identities: Identities,
                                                                            tmp_path: Path) -> None:
    role = json.loads(json.dumps(identities.roles["lmeval-setup-bootstrap"]))
    dsc_rule = next(r for r in role["rules"] if r["resources"] == ["datascienceclusters"])
    dsc_rule["verbs"].remove("patch")
    dsc = resource_path("datasciencecluster.opendatahub.io", "v1", "datascienceclusters")
    before = [d["metadata"]["resourceVersion"] for d in identities.admin.get(dsc)["items"]]
    _role(identities.admin, role)
    try:
        proc = run("bootstrap", "--dry-run", "--kubeconfig", identities.bootstrapper, tmp=tmp_path)
    finally:
        _role(identities.admin, identities.roles["lmeval-setup-bootstrap"])
    lines = error_lines(proc.stderr)
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert len(lines) == 1 and "RBAC preflight failed" in lines[0], lines
    assert "patch datascienceclusters.datasciencecluster.opendatahub.io" in lines[0], lines
    assert [d["metadata"]["resourceVersion"] for d in identities.admin.get(dsc)["items"]] == before
