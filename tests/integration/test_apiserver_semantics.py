"""The API semantics the rest of the project relies on, proven on the real kube-apiserver.

Custom resources take JSON merge patches and reject strategic-merge (415); stale updates conflict
(409); server-side dry-run writes nothing; RBAC stops a read-only identity from patching.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform.releases import DSC_GROUP

pytestmark = pytest.mark.controlplane

DSC_PATH = resource_path(DSC_GROUP, "v1", "datascienceclusters")


def _upstream_dsc_crd(fixtures_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((fixtures_dir / "crds/platform/rhoai-2.22_datascienceclusters.yaml").read_text())


def _wait_established(kube: Kube, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = kube.get(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions", name=name))
        conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        if conditions.get("Established") == "True":
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {name} not established")


@pytest.fixture(scope="module")
def dsc_api(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Any:
    """An apiserver of this module's own with the upstream RHOAI 2.22 DSC CRD and one DSC."""
    from lmeval_setup.sandbox.controlplane import ControlPlane
    plane = ControlPlane(tmp_path_factory.mktemp("semantics"), require_controlplane_binaries())
    plane.start()
    kube = Kube.connect(str(plane.kubeconfig))
    crd = _upstream_dsc_crd(fixtures_dir)
    kube.create(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions"), crd)
    _wait_established(kube, crd["metadata"]["name"])
    dsc = {
        "apiVersion": f"{DSC_GROUP}/v1",
        "kind": "DataScienceCluster",
        "metadata": {"name": "default-dsc"},
        "spec": {"components": {"trustyai": {"managementState": "Removed"}}},
    }
    kube.create(DSC_PATH, dsc)
    yield plane, kube
    plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def test_json_merge_patch_on_custom_resource_succeeds(dsc_api: Any) -> None:
    _, kube = dsc_api
    patched = kube.merge_patch(
        f"{DSC_PATH}/default-dsc", {"spec": {"components": {"trustyai": {"managementState": "Managed"}}}}
    )
    assert patched["spec"]["components"]["trustyai"]["managementState"] == "Managed"
    assert kube.get(f"{DSC_PATH}/default-dsc")["spec"]["components"]["trustyai"]["managementState"] == "Managed"


def test_strategic_merge_patch_on_custom_resource_is_415(dsc_api: Any) -> None:
    _, kube = dsc_api
    with pytest.raises(ApiError) as err:
        kube.request(
            "PATCH", f"{DSC_PATH}/default-dsc",
            body={"spec": {"components": {"trustyai": {"managementState": "Removed"}}}},
            content_type="application/strategic-merge-patch+json",
        )
    assert err.value.status == 415
    assert "merge-patch+json" in str(err.value)


def test_enum_rejects_unmanaged_for_trustyai(dsc_api: Any) -> None:
    _, kube = dsc_api
    with pytest.raises(ApiError) as err:
        kube.merge_patch(
            f"{DSC_PATH}/default-dsc", {"spec": {"components": {"trustyai": {"managementState": "Unmanaged"}}}}
        )
    assert err.value.status == 422


def test_update_with_stale_resource_version_is_409(dsc_api: Any) -> None:
    _, kube = dsc_api
    stale = kube.get(f"{DSC_PATH}/default-dsc")
    kube.merge_patch(f"{DSC_PATH}/default-dsc", {"metadata": {"labels": {"bump": "1"}}})
    stale["metadata"].setdefault("labels", {})["bump"] = "2"
    with pytest.raises(ApiError) as err:
        kube.replace(f"{DSC_PATH}/default-dsc", stale)
    assert err.value.status == 409 and err.value.conflict


def test_server_side_dry_run_writes_nothing(dsc_api: Any) -> None:
    _, kube = dsc_api
    before = kube.get(f"{DSC_PATH}/default-dsc")
    state = before["spec"]["components"]["trustyai"]["managementState"]
    flipped = "Removed" if state == "Managed" else "Managed"
    answer = kube.merge_patch(
        f"{DSC_PATH}/default-dsc", {"spec": {"components": {"trustyai": {"managementState": flipped}}}},
        dry_run=True,
    )
    assert answer["spec"]["components"]["trustyai"]["managementState"] == flipped  # what it would be
    after = kube.get(f"{DSC_PATH}/default-dsc")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["components"]["trustyai"]["managementState"] == state
    # A dry-run create does not create either.
    kube.create("/api/v1/namespaces", {"metadata": {"name": "dry-run-only"}}, dry_run=True)
    assert kube.get_or_none("/api/v1/namespaces/dry-run-only") is None


def test_read_only_identity_cannot_patch(dsc_api: Any) -> None:
    plane, kube = dsc_api
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    kube.create(f"{rbac}/clusterroles", {
        "metadata": {"name": "dsc-reader"},
        "rules": [{"apiGroups": [DSC_GROUP], "resources": ["datascienceclusters"], "verbs": ["get", "list", "watch"]}],
    })
    kube.create(f"{rbac}/clusterrolebindings", {
        "metadata": {"name": "dsc-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dsc-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "auditor"}],
    })
    reader = Kube.connect(str(plane.kubeconfig_for("auditor")))
    assert reader.get(f"{DSC_PATH}/default-dsc")["metadata"]["name"] == "default-dsc"
    assert reader.can_i("get", DSC_GROUP, "datascienceclusters")
    assert not reader.can_i("patch", DSC_GROUP, "datascienceclusters")
    with pytest.raises(ApiError) as err:
        reader.merge_patch(f"{DSC_PATH}/default-dsc", {"metadata": {"labels": {"x": "y"}}})
    assert err.value.status == 403


def test_controller_manager_runs_deployments(controlplane: Any, kube: Kube) -> None:
    """kube-controller-manager is real: a Deployment gets a ReplicaSet and a Pod."""
    ns = "kcm-check"
    kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    })
    deadline = time.monotonic() + 30
    pods: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not pods:
        pods = list(kube.list_items(f"/api/v1/namespaces/{ns}/pods"))
        time.sleep(0.3)
    assert pods and pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
