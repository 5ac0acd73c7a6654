"""The simulated ODH / RHOAI platform operator: only the TrustyAI part of it, per release.

It talks to the real apiserver only (list + watch, server-side apply, status subresource) and does
what platform-versions.md §3-§5 say the real one does:

- trustyai `Managed`: the component CR `default-trustyai` (where the release has it), the TrustyAI
  operator Deployment `trustyai-service-operator-controller-manager` (container `manager`, the
  release's pod labels / selector and `--enable-services`), the ConfigMap
  `trustyai-service-operator-config` (the release's `lmes-*` values plus image keys) and, where the DSC
  has eval fields, `trustyai-dsc-config` rendered from them ("true"/"false").
- Status: the release's conditions (legacy `trustyaiReady` + `installedComponents` on 2.16;
  `TrustyAIReady`, `ProvisioningSucceeded` with observedGeneration, `ComponentsReady`, `Ready`,
  `status.components.trustyai` from 2.17), `DeploymentsNotReady "0/1 deployments ready"` until the
  Deployment reports an available replica (kube-controller-manager + the simulated kubelet make that
  happen), and the KServe precondition failure when the InferenceService CRD is missing.
- ConfigMap drift: from 2.17 an edit is reverted at once (the controller owns ConfigMaps, so the edit
  itself triggers a reconcile) unless the ConfigMap is annotated `opendatahub.io/managed: "false"`,
  which de-owns it and leaves it alone. On 2.16 (legacy path) the annotation is ignored and edits are
  reverted only at the next reconcile: a DSC spec change or a restart of this simulator.
- trustyai `Removed`: deletes what it made, except ConfigMaps the annotation protects (2.17+).

Writes use server-side apply with the real field managers (`trustyai`, or the DSC name on 2.16) and
force, so exactly the keys the manifests set are reverted and keys someone added survive.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.kube.client import APPLY_PATCH, JSON, ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.releases import Release
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox.apiwatch import start_informer

OPERATOR_IMAGE = "quay.io/trustyai/trustyai-service-operator:latest"
# Image keys of the rhoai overlay's params.env (the images are not version facts the tool relies on).
IMAGE_KEYS = {
    "trustyaiServiceImage": "quay.io/trustyai/trustyai-service:latest",
    "trustyaiOperatorImage": OPERATOR_IMAGE,
    "kServeServerless": "enabled",
    "lmes-driver-image": "quay.io/trustyai/ta-lmes-driver:latest",
    "lmes-pod-image": "quay.io/trustyai/ta-lmes-job:latest",
}
COMPONENT_RELEASES = [
    {"name": "TrustyAI operator", "repoUrl": "https://github.com/trustyai-explainability/trustyai-service-operator",
     "version": "1.37.0"},
]
ISVC_CRD_PATH = f"{P.CRD_PATH}/{R.KSERVE_ISVC_CRD}"
REMOVED_MESSAGE = "Component ManagementState is set to Removed"
PRECONDITION_MESSAGE_35 = "pre-conditions not met, see status conditions for details"


# -- what the manifests render to (pure functions: tests validate them against upstream CRDs) ----------
# The TrustyAI manifests' odh-kueue overlay deploys the operator with its Kueue job manager ("TAS,LMES,JOB_MGR");
# LMEVAL_SANDBOX_TRUSTYAI_OVERLAY=odh-kueue makes the sandbox's platform operator deploy it so (Kueue's CRDs
# must be installed first: sandbox/kueue.py).
OVERLAY_SWITCH = "LMEVAL_SANDBOX_TRUSTYAI_OVERLAY"


def enabled_services(release: Release) -> str:
    """--enable-services of the operator Deployment: the release's, plus JOB_MGR under the odh-kueue overlay."""
    services = release.enable_services
    if os.environ.get(OVERLAY_SWITCH, "").strip() == "odh-kueue" and "JOB_MGR" not in services.split(","):
        services += ",JOB_MGR"
    return services


def operator_configmap(release: Release, namespace: str) -> JSON:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": R.OPERATOR_CONFIGMAP, "namespace": namespace, "labels": dict(R.TRUSTYAI_STABLE_LABELS)},
        "data": {**IMAGE_KEYS, **release.lmes_defaults},
    }


def dsc_configmap(namespace: str, trustyai_spec: JSON) -> JSON:
    """trustyai-dsc-config, as the createConfigMap action renders it: empty or missing means deny."""
    lmeval = (trustyai_spec.get("eval") or {}).get("lmeval") or {}
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": R.DSC_CONFIGMAP, "namespace": namespace, "labels": dict(R.TRUSTYAI_STABLE_LABELS)},
        "data": {
            R.DSC_CM_CODE: _bool_text(lmeval.get("permitCodeExecution") == "allow"),
            R.DSC_CM_ONLINE: _bool_text(lmeval.get("permitOnline") == "allow"),
        },
    }


def operator_deployment(release: Release, namespace: str) -> JSON:
    pod_labels = dict(release.operator_pod_labels)
    metadata_labels = {**pod_labels}
    if release.kueue_managed_blocks_dsc:  # the 3.x deploy action also labels the Deployment itself
        metadata_labels["platform.opendatahub.io/part-of"] = "trustyai"
    probe = {"initialDelaySeconds": 5, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": R.OPERATOR_DEPLOYMENT, "namespace": namespace, "labels": metadata_labels},
        # No `replicas`: the real operator leaves replicas (and resources) to the admin; the default is 1.
        "spec": {
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels,
                             "annotations": {"kubectl.kubernetes.io/default-container": "manager"}},
                "spec": {
                    "serviceAccountName": R.OPERATOR_DEPLOYMENT,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": R.OPERATOR_CONTAINER,
                        "image": OPERATOR_IMAGE,
                        "command": ["/manager"],
                        "args": ["--leader-elect", "--enable-services", enabled_services(release)],
                        "env": [{"name": "APPLICATIONS_NAMESPACE", "value": namespace}],
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8081}, "initialDelaySeconds": 15,
                                          "periodSeconds": 20},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}, **probe},
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    }


def component_cr(release: Release, trustyai_spec: JSON) -> JSON:
    spec: JSON = {}
    if release.has_dsc_eval_fields:
        lmeval = (trustyai_spec.get("eval") or {}).get("lmeval") or {}
        spec["eval"] = {"lmeval": {
            "permitOnline": lmeval.get("permitOnline") or "deny",
            "permitCodeExecution": lmeval.get("permitCodeExecution") or "deny",
        }}
    if release.has_mcp_guardrails_mode:
        spec["mcpGuardrailsMode"] = bool(trustyai_spec.get("mcpGuardrailsMode", False))
    return {
        "apiVersion": f"{R.TRUSTYAI_COMPONENT_GROUP}/v1alpha1", "kind": "TrustyAI",
        "metadata": {"name": P.COMPONENT_CR_NAME, "labels": {"platform.opendatahub.io/part-of": "datasciencecluster"}},
        "spec": spec,
    }


@dataclass(frozen=True)
class Observed:
    """What one reconcile saw: enough to compute every condition."""

    managed: bool
    kserve_crd: bool
    _: KW_ONLY
    deployment_available: bool
    dsc_generation: int
    component_generation: int = 1

    @property
    def precondition_failed(self) -> bool:
        return self.managed and not self.kserve_crd


def condition(release: Release, type_: str, status: str, reason: str, message: str, now: str, *,
              generation: int | None = None, severity: str | None = None) -> JSON:
    out: JSON = {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}
    if release.ready_condition_kind == "component":  # legacy conditions have no such fields
        if generation is not None:
            out["observedGeneration"] = generation
        if severity:
            out["severity"] = severity
    return out


def component_conditions(release: Release, seen: Observed, now: str) -> list[JSON]:
    """default-trustyai conditions; DSC TrustyAIReady mirrors the `Ready` one."""
    gen = seen.component_generation
    out: list[JSON] = []
    if seen.precondition_failed and release.kserve_missing_reason:
        reason = release.kserve_missing_reason
        if reason == "PreConditionFailed":  # 3.5: MonitorCRD precondition, its own condition
            out.append(condition(release, "DependenciesAvailable", "False", reason, R.KSERVE_MISSING_MESSAGE, now))
            out.append(condition(release, "ProvisioningSucceeded", "False", reason, PRECONDITION_MESSAGE_35, now,
                                 generation=gen))
        else:  # 2.19-3.4: checkPreConditions returns a StopError
            out.append(condition(release, "ProvisioningSucceeded", "False", reason, R.KSERVE_MISSING_MESSAGE, now,
                                 generation=gen))
        out.append(condition(release, "Ready", "False", reason, R.KSERVE_MISSING_MESSAGE, now))
        return out
    out.append(condition(release, "ProvisioningSucceeded", "True", "ProvisioningSucceeded", "", now, generation=gen))
    if seen.deployment_available:
        out.append(condition(release, "DeploymentsAvailable", "True", "DeploymentsAvailable",
                             "1/1 deployments ready", now))
        out.append(condition(release, "Ready", "True", "Ready", "", now))
    else:
        out.append(condition(release, "DeploymentsAvailable", "False", "DeploymentsNotReady",
                             "0/1 deployments ready", now))
        out.append(condition(release, "Ready", "False", "DeploymentsNotReady", "0/1 deployments ready", now))
    return out


def dsc_status(release: Release, seen: Observed, release_status: JSON, now: str,
               component_ready: JSON | None = None) -> JSON:
    """The whole DSC status this simulator owns, for the release's architecture."""
    if release.ready_condition_kind == "legacy":
        return _legacy_dsc_status(release, seen, release_status, now)
    trustyai = _trustyai_ready(release, seen, now, component_ready)
    others_ready = True  # kserve and the rest are not simulated: they report ready
    components_ok = others_ready and (not seen.managed or trustyai["status"] == "True")
    conditions = [trustyai]
    if components_ok:
        conditions.append(condition(release, "ComponentsReady", "True", "Ready", "", now))
    else:
        conditions.append(condition(release, "ComponentsReady", "False", "NotReady",
                                    "Some components are not ready: trustyai", now))
    conditions.append(condition(release, "ProvisioningSucceeded", "True", "ProvisioningSucceeded", "", now,
                                generation=seen.dsc_generation))
    happy = components_ok
    if happy:
        conditions.append(condition(release, "Ready", "True", "Ready", "", now))
    else:
        conditions.append(condition(release, "Ready", "False", "NotReady",
                                    "Some components are not ready: trustyai", now))
    status: JSON = {
        "phase": "Ready" if happy else "Not Ready",
        "conditions": conditions,
        "release": release_status,
        "components": {
            "trustyai": {"managementState": "Managed" if seen.managed else "Removed",
                         **({"releases": COMPONENT_RELEASES} if seen.managed else {})},
            "kserve": {"managementState": "Managed" if seen.kserve_crd else "Removed"},
        },
    }
    if happy:  # phase Ready and observedGeneration are set only when the DSC is happy
        status["observedGeneration"] = seen.dsc_generation
    if release.dsc_storage_version == "v1":
        status["installedComponents"] = {"trustyai": seen.managed, "kserve": seen.kserve_crd}
    return status


def _trustyai_ready(release: Release, seen: Observed, now: str, component_ready: JSON | None) -> JSON:
    if not seen.managed:
        return condition(release, release.trustyai_condition, "False", "Removed", REMOVED_MESSAGE, now,
                         severity="Info")
    ready = component_ready or {"status": "Unknown", "reason": "", "message": ""}
    return condition(release, release.trustyai_condition, ready["status"], ready.get("reason", ""),
                     ready.get("message", ""), now)


def _legacy_dsc_status(release: Release, seen: Observed, release_status: JSON, now: str) -> JSON:
    conditions = [
        condition(release, "ReconcileComplete", "True", "ReconcileCompleted",
                  "DataScienceCluster resource reconciled successfully", now),
        condition(release, "Available", "True", "ReconcileCompleted",
                  "DataScienceCluster resource reconciled successfully", now),
        condition(release, "Progressing", "False", "ReconcileCompleted",
                  "DataScienceCluster resource reconciled successfully", now),
        condition(release, "Degraded", "False", "ReconcileCompleted",
                  "DataScienceCluster resource reconciled successfully", now),
        condition(release, "Upgradeable", "True", "ReconcileCompleted",
                  "DataScienceCluster resource reconciled successfully", now),
    ]
    if seen.managed:  # the per-component condition is removed when the component is Removed
        if seen.deployment_available:
            conditions.append(condition(release, release.trustyai_condition, "True", "ReconcileCompleted",
                                        "Component reconciled successfully", now))
        else:
            conditions.append(condition(release, release.trustyai_condition, "Unknown", "ReconcileInit",
                                        "Component is enabled", now))
    progressing = seen.managed and not seen.deployment_available
    return {
        "phase": "Progressing" if progressing else "Ready",
        "conditions": conditions,
        "release": release_status,
        "installedComponents": {"trustyai": seen.managed, "kserve": seen.kserve_crd},
    }


def keep_transition_times(new: list[JSON], old: list[JSON]) -> list[JSON]:
    """lastTransitionTime changes only when a condition's status does (so unchanged status = no write)."""
    previous = {c.get("type"): c for c in old or []}
    for cond in new:
        before = previous.get(cond["type"])
        if before and before.get("status") == cond["status"] and before.get("lastTransitionTime"):
            cond["lastTransitionTime"] = before["lastTransitionTime"]
    return new


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- the controller -----------------------------------------------------------------------------------
class PlatformOperator:
    """Reconciles the DSC's trustyai component like the platform operator of `release`.

    Runner interface: `PlatformOperator(kube, release, version="2.25.0").run(stop)` blocks until `stop`.
    Level-triggered: every watch event (DSC, ConfigMaps and Deployments in the applications namespace,
    the component CR, the InferenceService CRD) wakes one reconcile of the whole state.
    """

    def __init__(self, kube: Kube, release: Release, *, version: str | None = None, resync: float = 30.0,
                 **_: Any) -> None:
        self.kube = kube
        self.release = release
        self.version = version
        self.resync = resync
        self._wake = threading.Event()
        # Reconciles begun and ended, so a test can wait out one that read an object before its own write.
        self._progress = threading.Condition()
        self._begun = self._ended = 0
        # Legacy (2.16) applies manifests only on a DSC generation change or at start-up.
        self._applied_generation: int | None = None
        self._field_manager = "trustyai" if release.ready_condition_kind == "component" else P.DSC_NAME
        self.errors: list[str] = []
        # ODH >= 2.32 / RHOAI >= 2.23 also drop their owner reference from an unmanaged object; before, they
        # skip it and the reference stays (so a Removed component's garbage collection still takes it).
        self._deowns = release.deowns_unmanaged(R.parse_version(version) if version else None)

    # -- loop ---------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        namespace = self._wait_for_namespace(stop)
        if namespace is None:
            return
        wake = self._on_event
        start_informer(self.kube, P.dsc_path(self.release), wake, stop, "platform-dsc")
        cm_path = resource_path("", "v1", "configmaps", namespace)
        start_informer(self.kube, cm_path, wake, stop, "platform-configmaps")
        deploy_path = resource_path("apps", "v1", "deployments", namespace)
        start_informer(self.kube, deploy_path, wake, stop, "platform-deployments")
        start_informer(self.kube, P.CRD_PATH, wake, stop, "platform-isvc-crd",
                       fieldSelector=f"metadata.name={R.KSERVE_ISVC_CRD}")
        if self.release.has_component_cr:
            start_informer(self.kube, P.component_path(), wake, stop, "platform-component")
        self._wake.set()
        # Stopping must interrupt the wait for the next event, not only the next resync.
        def wake_when_stopped() -> None:
            stop.wait()
            self._wake.set()
        threading.Thread(target=wake_when_stopped, daemon=True, name="platform-stop").start()
        while not stop.is_set():
            self._wake.wait(self.resync)
            if stop.is_set():
                return
            stop.wait(0.05)  # let a burst of events coalesce into one reconcile
            self._wake.clear()
            try:
                self._counted_reconcile()
            except Exception as exc:
                self.errors.append(str(exc))
                del self.errors[:-20]
                self._wake.set()
                stop.wait(0.5)

    def _counted_reconcile(self) -> None:
        with self._progress:
            self._begun += 1
        try:
            self.reconcile()
        finally:
            with self._progress:
                self._ended += 1
                self._progress.notify_all()

    def wait_out_reconcile_in_flight(self, timeout: float = 30.0) -> bool:
        """Wait until every reconcile begun before this call has ended (False on timeout).

        The real platform reads an object, then applies its manifest with force: a reconcile that read the
        ConfigMap before a caller's write (say the managed=false annotation) may still put its values back after
        the caller's next write. Reconciles begun later read the caller's write. On 2.17-2.22 nothing on the
        cluster tells when that reconcile is over (the owner reference goes only from 2.23)."""
        with self._progress:
            begun = self._begun
            return self._progress.wait_for(lambda: self._ended >= begun, timeout)

    def _on_event(self, kind: str, obj: JSON) -> None:
        self._wake.set()

    def _wait_for_namespace(self, stop: threading.Event) -> str | None:
        while not stop.is_set():
            try:
                return self.applications_namespace()
            except Exception:
                stop.wait(0.5)
        return None

    def applications_namespace(self) -> str:
        dscis = list(self.kube.list_items(P.dsci_path(self.release)))
        if dscis:
            spec = dscis[0].get("spec", {})
            return str(spec.get("applicationsNamespace") or self.release.default_applications_namespace)
        return self.release.default_applications_namespace

    # -- one reconcile -------------------------------------------------------------------------------
    def reconcile(self) -> None:
        dscs = list(self.kube.list_items(P.dsc_path(self.release)))
        if not dscs:
            return
        dsc = dscs[0]
        namespace = self.applications_namespace()
        trustyai = dsc.get("spec", {}).get("components", {}).get("trustyai") or {}
        managed = trustyai.get("managementState") == "Managed"
        kserve_crd = self.kube.get_or_none(ISVC_CRD_PATH) is not None
        generation = int(dsc["metadata"].get("generation", 1))
        owner = self._owner(dsc, trustyai) if managed else None
        precondition_failed = managed and not kserve_crd and self.release.kserve_missing_reason is not None
        if managed and not precondition_failed:
            self._deploy(namespace, trustyai, owner, generation)
        elif not managed:
            self._remove(namespace)
        deployment = self.kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT))
        available = int(((deployment or {}).get("status") or {}).get("availableReplicas") or 0) >= 1
        component_gen = int((owner or {}).get("metadata", {}).get("generation", 1))
        seen = Observed(managed, kserve_crd, deployment_available=available, dsc_generation=generation,
                        component_generation=component_gen)
        self._write_status(dsc, seen, owner)

    def _owner(self, dsc: JSON, trustyai: JSON) -> JSON:
        """The object that owns what we deploy: the component CR (2.17+) or the DSC (legacy)."""
        if not self.release.has_component_cr:
            return dsc
        body = component_cr(self.release, trustyai)
        body["metadata"]["ownerReferences"] = [_owner_ref(dsc, controller=True)]
        return self._apply(P.component_path(P.COMPONENT_CR_NAME), body)

    def _deploy(self, namespace: str, trustyai: JSON, owner: JSON | None, generation: int) -> None:
        legacy = self.release.ready_condition_kind == "legacy"
        if legacy and self._applied_generation == generation:
            return  # legacy event filter: ConfigMap / Deployment edits do not trigger a reconcile
        ref = [_owner_ref(owner, controller=True)] if owner else []
        self._apply_owned(namespace, _service_account(namespace), ref)
        self._apply_configmap(namespace, operator_configmap(self.release, namespace), ref)
        if self.release.has_dsc_eval_fields:
            self._apply_configmap(namespace, dsc_configmap(namespace, trustyai), ref)
        self._apply_owned(namespace, operator_deployment(self.release, namespace), ref)
        self._applied_generation = generation

    def _apply_configmap(self, namespace: str, body: JSON, owner_refs: list[JSON]) -> None:
        path = resource_path("", "v1", "configmaps", namespace, body["metadata"]["name"])
        current = self.kube.get_or_none(path)
        if current is not None and self._user_owned(current):
            # the user has explicitly marked the object as not owned: skip it (and de-own it, where the release does)
            self._deown(path, current)
            return
        self._apply_owned(namespace, body, owner_refs)

    def _deown(self, path: str, current: JSON) -> None:
        if self._deowns and current["metadata"].get("ownerReferences"):
            self.kube.json_patch(path, [{"op": "remove", "path": "/metadata/ownerReferences"}])

    def _user_owned(self, obj: JSON) -> bool:
        annotations = obj.get("metadata", {}).get("annotations") or {}
        return self.release.honours_managed_annotation and annotations.get(R.MANAGED_ANNOTATION) == "false"

    def _apply_owned(self, namespace: str, body: JSON, owner_refs: list[JSON]) -> JSON:
        body = json.loads(json.dumps(body))
        if owner_refs:
            body["metadata"]["ownerReferences"] = owner_refs
        group, version = _group_version(body["apiVersion"])
        plural = body["kind"].lower() + "s"
        return self._apply(resource_path(group, version, plural, namespace, body["metadata"]["name"]), body)

    def _apply(self, path: str, body: JSON) -> JSON:
        result: JSON = self.kube.request("PATCH", path, body=json.dumps(body), content_type=APPLY_PATCH,
                                         query={"fieldManager": self._field_manager, "force": "true"})
        return result

    def _remove(self, namespace: str) -> None:
        self._applied_generation = None
        for name in (R.OPERATOR_CONFIGMAP, R.DSC_CONFIGMAP):
            path = resource_path("", "v1", "configmaps", namespace, name)
            current = self.kube.get_or_none(path)
            if current is None:
                continue
            if self._user_owned(current):
                self._deown(path, current)  # so garbage collection spares it, where the release de-owns
                continue
            if _made_by_us(current, self._field_manager):
                self.kube.delete(path)
        for path in (
            resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT),
            resource_path("", "v1", "serviceaccounts", namespace, R.OPERATOR_DEPLOYMENT),
        ):
            current = self.kube.get_or_none(path)
            if current is not None and _made_by_us(current, self._field_manager):
                self.kube.delete(path)
        if self.release.has_component_cr:
            self.kube.delete(P.component_path(P.COMPONENT_CR_NAME))

    # -- status --------------------------------------------------------------------------------------
    def _write_status(self, dsc: JSON, seen: Observed, owner: JSON | None) -> None:
        now = _now()
        release_status = (dsc.get("status") or {}).get("release") or {}
        if not release_status.get("version") and self.version:
            release_status = {"name": self.release.release_name, "version": self.version}
        component_ready = None
        if self.release.has_component_cr and seen.managed and owner is not None:
            component_ready = self._write_component_status(owner, seen, now)
        status = dsc_status(self.release, seen, release_status, now, component_ready)
        old = dsc.get("status") or {}
        status["conditions"] = keep_transition_times(status["conditions"], old.get("conditions") or [])
        if _differs(status, old):
            self.kube.merge_patch(P.dsc_path(self.release, dsc["metadata"]["name"], status=True), {"status": status})

    def _write_component_status(self, owner: JSON, seen: Observed, now: str) -> JSON:
        conditions = component_conditions(self.release, seen, now)
        old = owner.get("status") or {}
        conditions = keep_transition_times(conditions, old.get("conditions") or [])
        ready = next(c for c in conditions if c["type"] == "Ready")
        status: JSON = {"conditions": conditions, "releases": COMPONENT_RELEASES,
                        "phase": "Ready" if ready["status"] == "True" else "Not Ready"}
        if ready["status"] == "True":
            status["observedGeneration"] = seen.component_generation
        if _differs(status, old):
            self.kube.merge_patch(P.component_path(P.COMPONENT_CR_NAME, status=True), {"status": status})
        return ready


def _differs(new: JSON, old: JSON) -> bool:
    return any(old.get(k) != v for k, v in new.items())


def _made_by_us(obj: JSON, manager: str) -> bool:
    return any(m.get("manager") == manager for m in obj.get("metadata", {}).get("managedFields") or [])


def _owner_ref(owner: JSON, *, controller: bool) -> JSON:
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True,
    }


def _service_account(namespace: str) -> JSON:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": R.OPERATOR_DEPLOYMENT, "namespace": namespace,
                         "labels": dict(R.TRUSTYAI_STABLE_LABELS)}}


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


__all__ = ["ApiError", "Observed", "PlatformOperator", "component_conditions", "dsc_status"]
