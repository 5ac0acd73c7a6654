"""Bootstrap and revert on sandbox profiles, through ansible-runner, against a real apiserver.

Each ansible run costs ~5-8 s on a 2-core machine, so the full lifecycle (dry run, bootstrap, second
bootstrap, revert, second revert) runs on a representative profile of each permission era: 2.16
(legacy, ConfigMap without annotation support), 2.22 (ConfigMap + managed=false + restart), 2.25 (DSC
eval fields, v1) and 3.5 (DSC eval fields, v2, new pod labels).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bootstrap_support import sandbox
from testsupport import error_lines

from lmeval_setup.bootstrap.dryrun import step_of, summarise
from lmeval_setup.bootstrap.runner import RunOptions, RunResult, run
from lmeval_setup.cli.bootstrap import as_text
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.kube.source import KubeSource
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect

pytestmark = pytest.mark.controlplane
LIFECYCLE_PROFILES = ["rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.5"]
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]


def bootstrap(kubeconfig: str, **kw: Any) -> RunResult:
    return run(RunOptions("bootstrap", kubeconfig=kubeconfig, timeout=600, **kw))


def revert(kubeconfig: str, **kw: Any) -> RunResult:
    return run(RunOptions("revert", kubeconfig=kubeconfig, timeout=600, **kw))


def changed(result: RunResult) -> int:
    return sum(c.count("changed") for c in result.clusters.values())


def resource_versions(kube: Kube, namespace: str) -> dict[str, str]:
    """Every object bootstrap could touch, by kind/name -> resourceVersion."""
    versions: dict[str, str] = {}
    dsc_group = R.DSC_GROUP
    served = kube.get(f"/apis/{dsc_group}")["preferredVersion"]["version"]
    for dsc in kube.list_items(resource_path(dsc_group, served, "datascienceclusters")):
        versions[f"dsc/{dsc['metadata']['name']}"] = dsc["metadata"]["resourceVersion"]
    for plural, group in (("configmaps", ""), ("deployments", "apps"), ("replicasets", "apps"), ("pods", "")):
        path = resource_path(group, "v1", plural, namespace)
        for obj in kube.list_items(path):
            versions[f"{plural}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return versions


def tracked_fields(kube: Kube) -> dict[str, Any]:
    facts = detect(KubeSource(kube))
    cm = facts.operator_config or {}
    return {
        "trustyai": facts.trustyai,
        "cm_annotations": (cm.get("metadata", {}).get("annotations") or {}).get(R.MANAGED_ANNOTATION),
        "cm_online": (cm.get("data") or {}).get(R.CM_ALLOW_ONLINE),
        "cm_code": (cm.get("data") or {}).get(R.CM_ALLOW_CODE),
    }


def replicasets(kube: Kube, namespace: str) -> list[str]:
    path = resource_path("apps", "v1", "replicasets", namespace)
    return [rs["metadata"]["name"] for rs in kube.list_items(path)
            if rs["metadata"]["name"].startswith(R.OPERATOR_DEPLOYMENT)]


def changed_by_step(result: RunResult) -> Counter[str]:
    return Counter(step_of(s.task) for c in result.clusters.values() for s in c.steps if s.status == "changed")


def told_by_step(dry: RunResult) -> dict[str, int]:
    """What the dry run said per step: changes it checked plus those it cannot check before TrustyAI is up."""
    cluster = dry.clusters["cluster"]
    told = {s.step: s.would_change + s.cannot_predict for s in summarise(cluster.steps, cluster.plan)}
    return {step: n for step, n in told.items() if n}


def grant_all_but_dsc_writes(kube: Kube, user: str) -> None:
    """Read everything; write ConfigMaps and Deployments; may not patch the DataScienceCluster."""
    rbac = "rbac.authorization.k8s.io"
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "patch", "update", "delete"]},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch", "update"]}]
    kube.create(resource_path(rbac, "v1", "clusterroles"), {"metadata": {"name": user}, "rules": rules})
    kube.create(resource_path(rbac, "v1", "clusterrolebindings"), {
        "metadata": {"name": user}, "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": user}]})


def revertable_state(kube: Kube, ns: str) -> dict[str, Any]:
    """What a revert could write: the DSC spec, the operator ConfigMap, the pod template, the record (not
    status, which the controllers and the kubelet keep updating)."""
    deployment = kube.get(resource_path("apps", "v1", "deployments", ns, R.OPERATOR_DEPLOYMENT))
    cm = kube.get(resource_path("", "v1", "configmaps", ns, R.OPERATOR_CONFIGMAP))
    record = kube.get_or_none(resource_path("", "v1", "configmaps", ns, "lmeval-setup-revert"))
    return {"dsc": detect(KubeSource(kube)).dsc["spec"], "cm": (cm["metadata"].get("annotations"), cm["data"]),
            "template": deployment["spec"]["template"]["metadata"], "record": (record or {}).get("data")}


def assert_revert_without_rights_writes_nothing(plane: Any, kube: Kube, ns: str, tmp_path: Path) -> None:
    """Rights to the ConfigMap and the Deployment but not the DSC: the preflight stops revert before it
    restores half of the fields (it used to revert the ConfigMap, then fail on the DSC)."""
    grant_all_but_dsc_writes(kube, "partial")
    partial = plane.kubeconfig_for("partial", path=tmp_path / "partial.kubeconfig")
    before = revertable_state(kube, ns)
    proc = subprocess.run([*CLI, "revert", "--kubeconfig", str(partial)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    [line] = error_lines(proc.stderr)
    assert "RBAC preflight failed" in line and "patch datascienceclusters" in line, line
    assert revertable_state(kube, ns) == before, "a revert without the rights restored some fields"


@pytest.mark.parametrize("profile", LIFECYCLE_PROFILES)
def test_lifecycle(new_controlplane: Any, profile: str, tmp_path: Path) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, profile, "fresh") as sb:
        kube, ns = sb.kube, sb.namespace
        original = tracked_fields(kube)

        before = resource_versions(kube, ns)
        dry = bootstrap(kubeconfig, dry_run=True, diff=True)
        assert dry.exit_code == 0, dry.clusters
        assert resource_versions(kube, ns) == before, "--dry-run wrote something"

        first = bootstrap(kubeconfig)
        assert first.exit_code == 0, first.clusters
        # The dry run told every change the real run made, per step: checked, or named as not predictable
        # before TrustyAI is up (a fresh 2.22 made 7 changes where its dry run used to say 2).
        assert told_by_step(dry) == changed_by_step(first), as_text(dry)
        facts = detect(KubeSource(kube))
        assert facts.trustyai_state == "Managed"
        assert facts.effective_permissions.online and facts.effective_permissions.code_execution
        if facts.release.permission_layer == "dsc":
            assert facts.dsc_eval == {"permitOnline": "allow", "permitCodeExecution": "allow"}
            assert (facts.operator_config or {}).get("metadata", {}).get("annotations", {}).get(
                R.MANAGED_ANNOTATION) is None, "the ConfigMap must be left alone on the DSC layer"
        else:
            assert first.clusters["cluster"].restarted, "a start-up setting changed: the operator must restart"
        rs_after_first = replicasets(kube, ns)

        second = bootstrap(kubeconfig)
        assert second.exit_code == 0
        assert changed(second) == 0, [s for c in second.clusters.values() for s in c.steps if s.status == "changed"]
        assert not second.clusters["cluster"].restarted
        assert replicasets(kube, ns) == rs_after_first

        if profile == "rhoai-2.22":
            assert_revert_without_rights_writes_nothing(new_controlplane, kube, ns, tmp_path)
            bootstrapped = revertable_state(kube, ns)
            dry_revert = revert(kubeconfig, dry_run=True)
            assert dry_revert.exit_code == 0, dry_revert.clusters
            assert revertable_state(kube, ns) == bootstrapped, "revert --dry-run wrote (or deleted the record)"
        undone = revert(kubeconfig)
        assert undone.exit_code == 0, undone.clusters
        restored = tracked_fields(kube)
        assert restored["trustyai"] == original["trustyai"]
        if kube.get_or_none(resource_path("", "v1", "configmaps", ns, R.OPERATOR_CONFIGMAP)) is not None:
            assert restored["cm_online"] in (original["cm_online"], None)
        assert kube.get_or_none(resource_path("", "v1", "configmaps", ns, "lmeval-setup-revert")) is None

        again = revert(kubeconfig)
        assert again.exit_code == 0 and changed(again) == 0


def test_least_privilege_flags(new_controlplane: Any) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-3.0", "fresh") as sb:
        result = bootstrap(kubeconfig, allow_online=True, allow_code_execution=False)
        assert result.exit_code == 0, result.clusters
        facts = detect(KubeSource(sb.kube))
        assert facts.dsc_eval == {"permitOnline": "allow", "permitCodeExecution": "deny"}
        assert facts.effective_permissions.online and not facts.effective_permissions.code_execution
        assert not result.clusters["cluster"].restarted, "permissions are read per job from 2.25: no restart"


def test_five_concurrent_bootstraps_restart_at_most_once(new_controlplane: Any) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-2.22", "fresh") as sb:
        with ThreadPoolExecutor(max_workers=5) as pool:
            results = list(pool.map(lambda _: bootstrap(kubeconfig), range(5)))
        assert [r.exit_code for r in results] == [0] * 5, [r.clusters for r in results if r.exit_code]
        restarts = sum(r.clusters["cluster"].restarted for r in results)
        assert restarts <= 1
        # One ReplicaSet from the platform's rollout, at most one more from our restart.
        assert len(replicasets(sb.kube, sb.namespace)) <= 2
        facts = detect(KubeSource(sb.kube))
        assert facts.effective_permissions.online and facts.effective_permissions.code_execution


READ_ONLY_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "lmeval-viewer"},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
}


def _bind_read_only(kube: Kube, user: str) -> None:
    kube.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", READ_ONLY_ROLE)
    kube.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "lmeval-viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lmeval-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    })


def test_missing_rbac_is_listed_and_nothing_written(new_controlplane: Any, tmp_path: Path) -> None:
    with sandbox(new_controlplane, "rhoai-2.25", "fresh") as sb:
        _bind_read_only(sb.kube, "viewer")
        viewer = new_controlplane.kubeconfig_for("viewer", path=tmp_path / "viewer.kubeconfig")
        before = resource_versions(sb.kube, sb.namespace)
        proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(viewer)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 4, proc.stderr
        errors = error_lines(proc.stderr)
        assert len(errors) == 1 and "RBAC preflight failed" in errors[0], proc.stderr
        assert "patch datascienceclusters.datasciencecluster.opendatahub.io 'default-dsc'" in errors[0]
        assert "create configmaps" in errors[0]
        assert resource_versions(sb.kube, sb.namespace) == before


def test_unreachable_cluster_one_line_exit_3(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\ncurrent-context: dead\n"
    )
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(kubeconfig)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "cannot reach the cluster" in errors[0]
    assert "not-a-secret" not in proc.stdout + proc.stderr


def test_wrong_context_one_line_exit_3(controlplane: Any) -> None:
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(controlplane.kubeconfig), "--context", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert len(error_lines(proc.stderr)) == 1 and "nope" in proc.stderr


def test_no_openshift_ai_one_line_exit_4(new_controlplane: Any) -> None:
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(new_controlplane.kubeconfig), "-o", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stderr
    import json

    report = json.loads(proc.stdout)
    assert [e["reason"] for e in report["clusters"]["cluster"]["errors"]] == ["no_openshift_ai"]


# Bootstrap twice on every other profile (and new jobs seeing the permissions): the idempotence matrix in
# test_bootstrap_reliability.py::test_new_jobs_see_the_permissions_and_second_run_is_a_noop.


@pytest.mark.parametrize(("profile", "scenario", "rule"), [
    ("rhoai-2.25", "no-kserve", "LME108"),
    ("rhoai-3.5", "kueue-managed", "LME109"),
])
def test_prerequisite_gates_stop_before_writing(new_controlplane: Any, profile: str, scenario: str,
                                                rule: str) -> None:
    with sandbox(new_controlplane, profile, scenario) as sb:
        before = resource_versions(sb.kube, sb.namespace)
        proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(new_controlplane.kubeconfig)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        errors = error_lines(proc.stderr)
        assert len(errors) == 1 and f"[{rule}]" in errors[0] and "Fix:" in errors[0]
        assert resource_versions(sb.kube, sb.namespace) == before
