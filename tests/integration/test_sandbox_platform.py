"""The simulated platform operator, the scenarios and `lmeval-setup sandbox` against a real apiserver.

Each test gets its own control plane (profiles install cluster-scoped CRDs and a singleton DSC).
Deployment availability comes from the real kube-controller-manager (Deployment -> ReplicaSet -> Pod)
and the simulated kubelet; tests that look at the "starting" state run without the kubelet first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from testsupport import require_controlplane_binaries, running_in_thread, wait_for

from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import platform_operator as PO
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox.crds import inferenceservice_crd
from lmeval_setup.sandbox.harness import Sandbox, running_sandbox

pytestmark = pytest.mark.controlplane
REPO = Path(__file__).resolve().parents[2]


# -- helpers ----------------------------------------------------------------------------------------
def condition(obj: JSON, type_: str) -> JSON:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def trustyai_condition(sb: Sandbox) -> JSON:
    return condition(sb.dsc(), sb.release.trustyai_condition)


def configmap(sb: Sandbox, name: str) -> JSON | None:
    return sb.kube.get_or_none(resource_path("", "v1", "configmaps", sb.namespace, name))


def deployment(sb: Sandbox) -> JSON | None:
    return sb.kube.get_or_none(resource_path("apps", "v1", "deployments", sb.namespace, R.OPERATOR_DEPLOYMENT))


def patch_dsc(sb: Sandbox, patch: JSON, api: str | None = None) -> JSON:
    return sb.kube.merge_patch(P.dsc_path(sb.release, P.DSC_NAME, api=api), patch)


def trustyai(state: str, **extra: Any) -> JSON:
    return {"spec": {"components": {"trustyai": {"managementState": state, **extra}}}}


def cm_path(sb: Sandbox, name: str = R.OPERATOR_CONFIGMAP) -> str:
    return resource_path("", "v1", "configmaps", sb.namespace, name)


def preferred_dsc_version(kube: Kube) -> str:
    return str(kube.get(f"/apis/{R.DSC_GROUP}")["preferredVersion"]["version"])


# -- component era (2.17+): conditions, manifests, drift, removal ---------------------------------------
def test_component_era_lifecycle_rhoai_225(new_controlplane: Any) -> None:
    with running_sandbox(new_controlplane, "rhoai-2.25", "fresh", simulators=("platform-operator",)) as sb:
        assert preferred_dsc_version(sb.kube) == "v1"
        removed = trustyai_condition(sb)
        assert (removed["status"], removed["reason"], removed["message"], removed["severity"]) == (
            "False", "Removed", PO.REMOVED_MESSAGE, "Info")
        assert sb.dsc()["status"]["release"] == {"name": R.RHOAI_RELEASE_NAME, "version": "2.25.0"}
        assert condition(sb.dsc(), "Ready")["status"] == "True"  # a Removed TrustyAI does not make it unhappy

        # Managed, no kubelet yet: the pod cannot start, so the component reports DeploymentsNotReady.
        patched = patch_dsc(sb, trustyai("Managed", eval={"lmeval": {"permitOnline": "allow"}}))
        generation = patched["metadata"]["generation"]
        sb.wait_for(lambda: trustyai_condition(sb).get("reason") == "DeploymentsNotReady", "DeploymentsNotReady")
        assert trustyai_condition(sb)["message"] == "0/1 deployments ready"
        dsc = sb.dsc()
        assert condition(dsc, "ProvisioningSucceeded")["observedGeneration"] == generation
        assert dsc["status"]["components"]["trustyai"]["managementState"] == "Managed"
        assert condition(dsc, "ComponentsReady")["reason"] == "NotReady"
        # phase Ready and status.observedGeneration move only when the DSC is happy: it is stale now.
        assert dsc["status"]["phase"] == "Not Ready" and dsc["status"]["observedGeneration"] < generation
        component = sb.kube.get(P.component_path(P.COMPONENT_CR_NAME))
        assert condition(component, "DeploymentsAvailable")["reason"] == "DeploymentsNotReady"
        assert component["spec"]["eval"]["lmeval"] == {"permitOnline": "allow", "permitCodeExecution": "deny"}

        # What was deployed: the release's Deployment and ConfigMaps, owned by default-trustyai.
        deploy = deployment(sb)
        assert deploy is not None
        assert deploy["spec"]["selector"]["matchLabels"] == sb.release.operator_pod_labels
        assert deploy["spec"]["template"]["metadata"]["labels"] == sb.release.operator_pod_labels
        manager = deploy["spec"]["template"]["spec"]["containers"][0]
        assert manager["name"] == "manager"
        assert manager["args"] == ["--leader-elect", "--enable-services", "TAS,LMES,GORCH"]
        assert deploy["metadata"]["ownerReferences"][0]["kind"] == "TrustyAI"
        operator_cm = configmap(sb, R.OPERATOR_CONFIGMAP)
        assert operator_cm is not None
        assert {k: operator_cm["data"][k] for k in sb.release.lmes_defaults} == sb.release.lmes_defaults
        assert operator_cm["data"]["lmes-pod-image"] and operator_cm["data"]["lmes-driver-image"]
        dsc_cm = configmap(sb, R.DSC_CONFIGMAP)
        assert dsc_cm is not None
        assert dsc_cm["data"] == {R.DSC_CM_ONLINE: "true", R.DSC_CM_CODE: "false"}

        # The kubelet starts the pod; kube-controller-manager reports the Deployment available.
        sb.start("kubelet")
        sb.wait_for(lambda: trustyai_condition(sb).get("status") == "True", "TrustyAIReady True")
        dsc = sb.dsc()
        assert condition(dsc, "Ready")["status"] == "True" and dsc["status"]["phase"] == "Ready"
        assert dsc["status"]["observedGeneration"] == dsc["metadata"]["generation"]

        # The eval fields are re-rendered into trustyai-dsc-config.
        patch_dsc(sb, trustyai("Managed", eval={"lmeval": {"permitOnline": "deny", "permitCodeExecution": "allow"}}))
        sb.wait_for(lambda: (configmap(sb, R.DSC_CONFIGMAP) or {}).get("data") == {
            R.DSC_CM_ONLINE: "false", R.DSC_CM_CODE: "true"}, "trustyai-dsc-config re-rendered")

        # An unannotated edit is reverted at once; a key the manifests do not set survives.
        sb.kube.merge_patch(cm_path(sb), {"data": {R.CM_ALLOW_ONLINE: "true", "admin-note": "kept"}})
        sb.wait_for(lambda: (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "false",
                    "the edit to be reverted", timeout=10)
        assert (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"]["admin-note"] == "kept"

        # Annotated opendatahub.io/managed=false: de-owned and left alone. The data is edited once the platform has
        # de-owned it: a reconcile still in flight from the revert above read the ConfigMap before the annotation
        # and applies the manifest over an edit made at once (as the real one does; seen in a fresh-clone run).
        sb.kube.merge_patch(cm_path(sb), {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}})
        sb.wait_for(lambda: not (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["metadata"].get("ownerReferences"),
                    "the annotated ConfigMap to be de-owned", timeout=10)
        sb.kube.merge_patch(cm_path(sb), {"data": {R.CM_ALLOW_ONLINE: "true"}})
        patch_dsc(sb, {"spec": {"components": {"dashboard": {"managementState": "Removed"}}}})  # another reconcile
        time.sleep(1.0)
        assert (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "true"

        # No admission policy before 3.x: kueue Managed is accepted.
        patch_dsc(sb, {"spec": {"components": {"kueue": {"managementState": "Managed"}}}})

        # Removed: everything goes except the annotated ConfigMap.
        patch_dsc(sb, trustyai("Removed"))
        sb.wait_for(lambda: deployment(sb) is None and configmap(sb, R.DSC_CONFIGMAP) is None
                    and sb.kube.get_or_none(P.component_path(P.COMPONENT_CR_NAME)) is None, "removal")
        sb.wait_for(lambda: trustyai_condition(sb).get("reason") == "Removed", "TrustyAIReady Removed")
        time.sleep(1.0)  # give garbage collection a chance to (wrongly) take the de-owned ConfigMap
        assert configmap(sb, R.OPERATOR_CONFIGMAP) is not None
        assert sb.failures() == {}


# -- legacy (2.16): trustyaiReady, installedComponents, revert only at the next reconcile -------------------
def test_legacy_216_reverts_at_next_reconcile_regardless_of_annotation(new_controlplane: Any) -> None:
    with running_sandbox(new_controlplane, "rhoai-2.16", "bootstrapped") as sb:
        dsc = sb.dsc()
        ready = condition(dsc, "trustyaiReady")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "True", "ReconcileCompleted", "Component reconciled successfully")
        assert "severity" not in ready and "observedGeneration" not in ready
        assert dsc["status"]["installedComponents"]["trustyai"] is True
        assert "components" not in dsc["status"] and "observedGeneration" not in dsc["status"]
        assert condition(dsc, "ReconcileComplete")["reason"] == "ReconcileCompleted"
        assert sb.kube.get_or_none(f"{P.CRD_PATH}/trustyais.{R.TRUSTYAI_COMPONENT_GROUP}") is None
        deploy = deployment(sb)
        assert deploy is not None and deploy["metadata"]["ownerReferences"][0]["kind"] == "DataScienceCluster"
        assert deploy["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "TAS,LMES"
        assert configmap(sb, R.DSC_CONFIGMAP) is None  # no DSC eval layer before 2.25

        # Bootstrap's annotated edit holds as long as nothing reconciles ...
        time.sleep(1.0)
        assert (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "true"
        # ... and a restart of the operator reverts it despite the annotation.
        sb.restart("platform-operator")
        sb.wait_for(lambda: (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "false",
                    "revert after restart", timeout=15)
        # So does a DSC change.
        sb.kube.merge_patch(cm_path(sb), {"data": {R.CM_ALLOW_ONLINE: "true"}})
        time.sleep(1.0)
        assert (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "true"
        patch_dsc(sb, {"spec": {"components": {"dashboard": {"managementState": "Removed"}}}})
        sb.wait_for(lambda: (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "false",
                    "revert after a DSC change", timeout=15)

        # Removed: the condition disappears, installedComponents flips, the annotation protects nothing.
        patch_dsc(sb, trustyai("Removed"))
        sb.wait_for(lambda: deployment(sb) is None and configmap(sb, R.OPERATOR_CONFIGMAP) is None, "removal")
        sb.wait_for(lambda: not condition(sb.dsc(), "trustyaiReady"), "trustyaiReady removed")
        assert sb.dsc()["status"]["installedComponents"]["trustyai"] is False


# -- the KServe precondition ---------------------------------------------------------------------------
@pytest.mark.parametrize("profile, reason", [("rhoai-2.22", "Error"), ("rhoai-3.5", "PreConditionFailed")])
def test_kserve_missing_fails_the_precondition_until_the_crd_exists(new_controlplane: Any, profile: str,
                                                                    reason: str) -> None:
    with running_sandbox(new_controlplane, profile, "no-kserve") as sb:
        assert sb.release.kserve_missing_reason == reason
        ready = trustyai_condition(sb)
        assert (ready["status"], ready["reason"], ready["message"]) == ("False", reason, R.KSERVE_MISSING_MESSAGE)
        component = sb.kube.get(P.component_path(P.COMPONENT_CR_NAME))
        provisioning = condition(component, "ProvisioningSucceeded")
        assert provisioning["reason"] == reason
        if reason == "PreConditionFailed":
            assert provisioning["message"] == PO.PRECONDITION_MESSAGE_35
            assert condition(component, "DependenciesAvailable")["message"] == R.KSERVE_MISSING_MESSAGE
        else:
            assert provisioning["message"] == R.KSERVE_MISSING_MESSAGE
        assert deployment(sb) is None  # the action chain stops before deploying
        # Installing KServe's CRD is seen through the CRD watch; TrustyAI then deploys and gets ready.
        P.apply_crds(sb.kube, [inferenceservice_crd()])
        sb.wait_for(lambda: trustyai_condition(sb).get("status") == "True", "TrustyAIReady after KServe", timeout=30)
        deploy = deployment(sb)
        assert deploy is not None and deploy["spec"]["selector"]["matchLabels"] == sb.release.operator_pod_labels


# -- 3.x: kueue Managed refused by the apiserver itself ---------------------------------------------------
def test_kueue_managed_blocks_every_dsc_update_on_3x(new_controlplane: Any) -> None:
    with running_sandbox(new_controlplane, "rhoai-3.0", "kueue-managed", simulators=("platform-operator",)) as sb:
        assert preferred_dsc_version(sb.kube) == "v2"
        served = [v["version"] for v in sb.kube.get(f"/apis/{R.DSC_GROUP}")["versions"]]
        assert sorted(served) == ["v1", "v2"]
        for api in ("v2", "v1"):
            with pytest.raises(ApiError) as denied:
                patch_dsc(sb, trustyai("Managed"), api=api)
            assert denied.value.status == 403 and R.KUEUE_MANAGED_MESSAGE in str(denied.value)
        assert condition(sb.dsc(), "TrustyAIReady")["reason"] == "Removed"  # status writes still pass
        # The documented fix: kueue Removed (the resulting object is acceptable), then the patch works.
        patch_dsc(sb, {"spec": {"components": {"kueue": {"managementState": "Removed"}}}})
        patch_dsc(sb, trustyai("Managed"), api="v1")  # the trustyai path is the same in v1 and v2
        assert sb.dsc()["spec"]["components"]["trustyai"]["managementState"] == "Managed"


# -- broken-jobs (the seed's mistakes fail, the good job completes) is checked on every profile by
# test_doctor_scenarios, on the sandbox where the doctor then fixes them (fix_support.py).


# -- the CLI ------------------------------------------------------------------------------------------
def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=REPO)


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cli_up_is_idempotent_and_down_leaves_nothing(tmp_path: Path) -> None:
    from lmeval_setup.sandbox.controlplane import ControlPlaneState

    require_controlplane_binaries()
    state = tmp_path / "sb"
    first = cli("sandbox", "up", "--profile", "rhoai-3.3", "--state-dir", str(state))
    assert first.returncode == 0, first.stderr
    kubeconfig = state / "controlplane" / "kubeconfig"
    assert f"export KUBECONFIG={kubeconfig}" in first.stdout
    try:
        kube = Kube.connect(str(kubeconfig))
        assert preferred_dsc_version(kube) == "v2"  # `kubectl get dsc` answers with 3.3's API version
        dsc = kube.get(P.dsc_path(P.get_profile("rhoai-3.3").release, P.DSC_NAME))
        assert dsc["apiVersion"] == f"{R.DSC_GROUP}/v2"
        assert dsc["status"]["release"]["version"] == "3.3.0"
        again = cli("sandbox", "up", "--profile", "rhoai-3.3", "--state-dir", str(state))
        assert again.returncode == 0 and "already up" in again.stdout
        other = cli("sandbox", "up", "--profile", "rhoai-3.5", "--state-dir", str(state))
        assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stdout + other.stderr
        assert "is up with profile rhoai-3.3" in other.stderr and "sandbox down" in other.stderr
        assert_private_state(state)
        status = wait_for("status to list the kubelet's port", lambda: _status_with_kubelet_port(state), timeout=20)
        assert status.returncode == 0 and "NOT running" not in status.stdout and "TrustyAIReady" in status.stdout
        assert_status_shows_components(status.stdout, state)
        assert cli("sandbox", "env", "--state-dir", str(state)).stdout.strip() == f"export KUBECONFIG={kubeconfig}"
        plane = ControlPlaneState.load(state / "controlplane")
        assert plane is not None
        import json

        groups = [*plane.pgids.values(), json.loads((state / "sandbox.json").read_text())["runner_pgid"]]
        assert all(_alive(g) for g in groups)
    finally:
        down = cli("sandbox", "down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert not state.exists()
    assert not any(_alive(g) for g in groups)


def _status_with_kubelet_port(state: Path) -> subprocess.CompletedProcess[str] | None:
    status = cli("sandbox", "status", "--state-dir", str(state))
    kubelet = next((ln.split() for ln in status.stdout.splitlines() if ln.split()[:1] == ["kubelet"]), [])
    return status if len(kubelet) > 4 and kubelet[4].isdigit() else None


def assert_private_state(state: Path) -> None:
    import stat

    from lmeval_setup.sandbox.state import MARKER_FILE

    assert (state / MARKER_FILE).is_file()
    for directory in (state, state / "controlplane", state / "controlplane" / "certs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    for key in [*(state / "controlplane" / "certs").glob("*.key"), state / "controlplane" / "kubeconfig"]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def assert_status_shows_components(text: str, state: Path) -> None:
    """Profile, uptime; real control-plane processes and simulated components with PIDs and ports."""
    import json

    from lmeval_setup.sandbox.controlplane import ControlPlaneState

    plane = ControlPlaneState.load(state / "controlplane")
    assert plane is not None
    assert re.search(r"profile rhoai-3\.3, scenario fresh, up \d+m\d\ds", text), text
    rows = {ln.split()[0]: ln.split() for ln in text.splitlines()[1:] if ln.startswith("  ") and len(ln.split()) > 3}
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        assert rows[name][1:5] == ["real", "running", str(plane.pgids[name]), str(plane.ports[name])], rows[name]
    from lmeval_setup.sandbox import realoperator

    runner_pid = json.loads((state / "sandbox.json").read_text())["runner_pgid"]
    for name in ("platform-operator", "kubelet"):
        assert rows[name][1:4] == ["simulated", "running", str(runner_pid)], rows[name]
    # 3.3 runs the real TrustyAI manager by default where its line is built (realoperator.REAL_BY_DEFAULT):
    # the row names the line's commit; it has no PID of its own (the kubelet runs it in the operator's pod).
    if realoperator.use_real_operator(P.get_profile("rhoai-3.3")):
        assert rows["trustyai-operator"][1:3] == ["real", "running"] and "commit" in rows["trustyai-operator"]
        assert rows["lm-eval"][1] == ("real" if realoperator.job_venv_python() else "simulated"), rows["lm-eval"]
    else:
        assert rows["trustyai-operator"][1:4] == ["simulated", "running", str(runner_pid)]
        assert rows["lm-eval"][1] == "simulated"


def test_cli_missing_binaries_one_line_exit_4(tmp_path: Path) -> None:
    result = cli("sandbox", "up", "--state-dir", str(tmp_path / "sb"),
                 env={"LMEVAL_CONTROLPLANE_DIR": str(tmp_path / "empty")}, timeout=30)
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "build-controlplane.sh" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sb").exists()


def test_cli_profiles_lists_every_profile_and_scenario() -> None:
    result = cli("sandbox", "profiles", timeout=30)
    assert result.returncode == 0
    for name in R.PROFILES:
        assert name in result.stdout
    for scenario in ("fresh", "bootstrapped", "broken-jobs", "no-kserve", "unannotated-configmap-edit"):
        assert scenario in result.stdout


def test_unannotated_configmap_edit_scenario_is_reverted_on_the_component_path(new_controlplane: Any) -> None:
    with running_sandbox(new_controlplane, "rhoai-2.22", "unannotated-configmap-edit",
                         simulators=("platform-operator",)) as sb:
        sb.wait_for(lambda: (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE] == "false",
                    "the unannotated edit to be reverted", timeout=10)
        fields = (configmap(sb, R.OPERATOR_CONFIGMAP) or {})["metadata"]["managedFields"]
        owner = [f["manager"] for f in fields if "f:lmes-allow-online" in str(f.get("fieldsV1"))]
        assert owner == ["trustyai"]  # server-side apply took the key back from the editor


class HeldConfigMapRead:
    """The platform's next read of trustyai-service-operator-config is held after it has read: its reconcile is
    in flight, with the ConfigMap as it was, until `release()`."""

    def __init__(self, sb: Sandbox) -> None:
        self.kube = sb.simulator("platform-operator").instance.kube
        self.read = self.kube.get_or_none
        self.armed = False
        self.entered, self.released = threading.Event(), threading.Event()
        self.kube.get_or_none = self._get_or_none  # the instance attribute shadows Kube.get_or_none

    def hold_next(self) -> None:
        self.entered.clear()
        self.released.clear()
        self.armed = True

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> HeldConfigMapRead:
        return self

    def __exit__(self, *exc: object) -> None:  # a failed assertion must not leave the platform's thread held
        self.armed = False
        self.release()

    def _get_or_none(self, path: str) -> JSON | None:
        obj = self.read(path)
        if self.armed and path.endswith(f"/configmaps/{R.OPERATOR_CONFIGMAP}"):
            self.armed = False
            self.entered.set()
            self.released.wait(60)
        return obj


def test_settle_platform_waits_out_the_reconcile_that_read_the_configmap_before_the_annotation(
        new_controlplane: Any) -> None:
    """The hand edit of the ≤2.24 procedure: annotate managed=false, then patch lmes-allow-*. A platform reconcile
    that read the ConfigMap before the annotation applies the shipped values over an edit made at once (the real
    platform does; test_bootstrap_reliability's hand edit met it in CI). 2.22 does not de-own, so nothing on the
    cluster says when that reconcile is over: sb.settle_platform() waits it out, and an edit after it holds."""
    with running_sandbox(new_controlplane, "rhoai-2.22", "fresh", simulators=("platform-operator",)) as sb:
        patch_dsc(sb, trustyai("Managed"))
        sb.wait_for(lambda: configmap(sb, R.OPERATOR_CONFIGMAP) is not None and deployment(sb) is not None,
                    "the operator's ConfigMap and Deployment")
        with HeldConfigMapRead(sb) as held:
            touches = iter(range(1000))

            def reconcile_in_flight() -> None:  # any event in the namespace wakes a reconcile
                held.hold_next()
                sb.kube.merge_patch(resource_path("apps", "v1", "deployments", sb.namespace, R.OPERATOR_DEPLOYMENT),
                                    {"metadata": {"labels": {"touched": str(next(touches))}}})
                assert held.entered.wait(30), "the platform never read the ConfigMap"

            def annotate(value: str | None) -> None:
                sb.kube.merge_patch(cm_path(sb), {"metadata": {"annotations": {R.MANAGED_ANNOTATION: value}}})

            def allow_online() -> str:
                return str((configmap(sb, R.OPERATOR_CONFIGMAP) or {})["data"][R.CM_ALLOW_ONLINE])

            # The hazard: annotated and edited at once, the edit is put back by the reconcile in flight.
            sb.settle_platform()
            reconcile_in_flight()
            annotate("false")
            sb.kube.merge_patch(cm_path(sb), {"data": {R.CM_ALLOW_ONLINE: "true"}})
            held.release()
            sb.settle_platform()
            assert allow_online() == "false"

            # The cure: settle between the annotation and the edit. It waits while the reconcile is held.
            annotate(None)
            sb.settle_platform()
            reconcile_in_flight()
            annotate("false")
            settled = threading.Event()
            with running_in_thread(lambda stop: (sb.settle_platform(), settled.set()), name="settle"):
                assert not settled.wait(1.0), "settle_platform returned while a reconcile was in flight"
                held.release()
                assert settled.wait(30)
            sb.kube.merge_patch(cm_path(sb), {"data": {R.CM_ALLOW_ONLINE: "true"}})
            reconcile_in_flight()  # a later reconcile reads the annotation and leaves the ConfigMap alone
            held.release()
            sb.settle_platform()
            assert allow_online() == "true"
        assert sb.failures() == {}
