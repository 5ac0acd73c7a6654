"""detect(): read a cluster (live or a must-gather Snapshot) once and answer every version question.

The input is an `ObjectSource` (get / list / served API versions), implemented by `KubeSource` for a
live cluster and by the doctor's Snapshot for offline directories, so live and offline answers agree
by construction. The output, `ClusterFacts`, is what bootstrap (through its Ansible facts module),
the doctor's cluster rules and lint --cluster consume; the per-release behaviour comes from the
release table, never from version comparisons sprinkled elsewhere.
"""

from __future__ import annotations

import builtins
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

from lmeval_setup.errors import OpenShiftAIMissing, PrerequisiteError
from lmeval_setup.kube.source import Read, prefetch
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.operator_state import deployment_readiness
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.platform.releases import Release

JSON = dict[str, Any]
CRD_GROUP, CRD_VERSION, CRD_PLURAL = "apiextensions.k8s.io", "v1", "customresourcedefinitions"


class ObjectSource(Protocol):
    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        """The object, or None when it does not exist (or its API is not served)."""

    def list(
        self, group: str, version: str, plural: str, namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JSON]:
        """All objects (across namespaces when namespace is None); [] when the API is not served."""

    # builtins.list: in this class's body `list` is the method above
    def served_versions(self, group: str) -> builtins.list[str]:
        """Versions served for an API group, preferred first; [] when the group is absent."""


@dataclass(frozen=True)
class OperatorPod:
    name: str
    uid: str
    _: KW_ONLY
    phase: str
    ready: bool
    start_time: str | None
    annotations: dict[str, str]


@dataclass
class OperatorFacts:
    namespace: str
    deployment: JSON | None
    _: KW_ONLY
    selector: dict[str, str]
    pods: list[OperatorPod] = field(default_factory=list)
    pod_objects: list[JSON] = field(default_factory=list)  # the same pods as read (operator_state needs them)

    @property
    def available(self) -> bool:
        return deployment_readiness(self.deployment).available


@dataclass
class ClusterFacts:
    release: Release
    release_version: str
    _: KW_ONLY
    release_name: str
    dsc_name: str
    dsc_api_version: str  # "group/version" to read and patch the DSC with
    dsc: JSON
    dsci_name: str | None
    applications_namespace: str
    dsc_has_eval_fields: bool
    kserve_crd_present: bool
    operator: OperatorFacts
    operator_config: JSON | None
    dsc_config: JSON | None

    # -- derived answers -------------------------------------------------------------------------
    @property
    def dsc_version(self) -> str:
        return self.dsc_api_version.split("/")[1]

    @property
    def trustyai(self) -> JSON:
        return dict(self.dsc.get("spec", {}).get("components", {}).get("trustyai") or {})

    @property
    def trustyai_state(self) -> str:
        return str(self.trustyai.get("managementState") or "Removed")

    @property
    def kueue_state(self) -> str | None:
        kueue = self.dsc.get("spec", {}).get("components", {}).get("kueue") or {}
        return kueue.get("managementState")

    @property
    def kueue_blocks_dsc_updates(self) -> bool:
        return self.release.kueue_managed_blocks_dsc and self.kueue_state == "Managed"

    @property
    def dsc_eval(self) -> dict[str, str]:
        return dict((self.trustyai.get("eval") or {}).get("lmeval") or {})

    @property
    def configmap_annotated_unmanaged(self) -> bool:
        annotations = (self.operator_config or {}).get("metadata", {}).get("annotations") or {}
        return annotations.get(R.MANAGED_ANNOTATION) == "false"

    @property
    def configmap_permissions(self) -> Permissions:
        """The lmes-allow-* keys as this release's controller reads them (see lmes_permission)."""
        data = (self.operator_config or {}).get("data") or {}
        return Permissions(lmes_permission(data.get(R.CM_ALLOW_ONLINE), self.release),
                           lmes_permission(data.get(R.CM_ALLOW_CODE), self.release))

    @property
    def effective_permissions(self) -> Permissions:
        """What a job created now gets (assuming the operator loaded the current ConfigMap).

        From 2.25 the operator reads trustyai-dsc-config per job and, when it exists, it replaces BOTH
        permissions, a missing or unparsable key meaning false (controllers/lmes/config.go
        ReadEffectivePermissions: `config.AllowOnline = dscConfig.AllowOnline`, rhoai-2.25 L169, rhoai-3.5
        L188; controllers/dsc/config.go processDSCConfig starts from a zero DSCConfig, L77/L90 ParseBool).
        """
        if self.release.permissions_read_per_job and self.dsc_config is not None:
            data = self.dsc_config.get("data") or {}
            return Permissions(go_parse_bool(data.get(R.DSC_CM_ONLINE)) is True,
                               go_parse_bool(data.get(R.DSC_CM_CODE)) is True)
        return self.configmap_permissions

    def as_dict(self) -> JSON:
        """A JSON-able summary for the Ansible facts module and `-o json`."""
        perms = self.effective_permissions
        return {
            "platform": self.release.platform,
            "release_line": self.release.key,
            "release_version": self.release_version,
            "release_name": self.release_name,
            "dsc_name": self.dsc_name,
            "dsc_api_version": self.dsc_api_version,
            "dsci_name": self.dsci_name,
            "applications_namespace": self.applications_namespace,
            "permission_layer": self.release.permission_layer,
            "dsc_has_eval_fields": self.dsc_has_eval_fields,
            "honours_managed_annotation": self.release.honours_managed_annotation,
            "needs_restart_for_permissions": self.release.needs_restart_for_permissions,
            "trustyai_condition": self.release.trustyai_condition,
            "trustyai_state": self.trustyai_state,
            "kserve_crd_present": self.kserve_crd_present,
            "kueue_state": self.kueue_state,
            "kueue_blocks_dsc_updates": self.kueue_blocks_dsc_updates,
            "operator_deployment": R.OPERATOR_DEPLOYMENT if self.operator.deployment else None,
            "operator_selector": self.operator.selector,
            "operator_available": self.operator.available,
            "operator_configmap_present": self.operator_config is not None,
            "operator_configmap_annotated_unmanaged": self.configmap_annotated_unmanaged,
            "dsc_configmap_present": self.dsc_config is not None,
            "effective_online": perms.online,
            "effective_code_execution": perms.code_execution,
        }


# Go's strconv.ParseBool accepts exactly these spellings, untrimmed (strconv/atob.go).
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_parse_bool(value: object) -> bool | None:
    """strconv.ParseBool: True, False, or None for a value it rejects (or a missing one)."""
    if not isinstance(value, str):
        return None
    return True if value in _GO_TRUE else False if value in _GO_FALSE else None


def lmes_permission(value: object, release: Release) -> bool:
    """One lmes-allow-* value of trustyai-service-operator-config as `release`'s controller reads it.

    Missing: false on every line (serviceOptions/PermissionConfig default AllowOnline: false).
    Unparsable ("yes", "on", " true"):
    - lines reading permissions once at start (2.16-2.24, v1.38.0): TRUE. constructOptionsFromConfigMap
      replaces a bool ParseBool rejects with `val = DefaultDetectDevice` (controllers/lmes/config.go
      rhoai-2.16 L77, rhoai-2.22 L80, v1.38.0 L80), and constants.go sets `DefaultDetectDevice = true`
      (rhoai-2.16 L45, rhoai-2.22 L46): "yes" gives TRUST_REMOTE_CODE=1.
    - lines reading them per job (2.25+): FALSE. ReadEffectivePermissions only assigns a value ParseBool
      accepts (`if ..., err := strconv.ParseBool(...); err == nil`, controllers/lmes/config.go rhoai-2.25
      L153/L158, rhoai-3.5 L172/L177), keeping NewDefaultPermissionConfig's false.
    tests/unit/test_operator_sources.py checks these lines in the sources of every line.
    """
    parsed = go_parse_bool(value)
    if parsed is None:
        return value is not None and release.unparsable_permission_grants
    return parsed


# -- detection ---------------------------------------------------------------------------------------
def detect(source: ObjectSource) -> ClusterFacts:
    # The prefetch hints name each round of reads as soon as their inputs are known, so a source that
    # prefetches (kube.source.KubeSource with workers) makes 4 sequential round trips instead of 11.
    prefetch(source, Read.versions(R.DSC_GROUP), Read.versions(R.DSCI_GROUP),
             Read.get(CRD_GROUP, CRD_VERSION, CRD_PLURAL, f"datascienceclusters.{R.DSC_GROUP}"),
             Read.get(CRD_GROUP, CRD_VERSION, CRD_PLURAL, R.KSERVE_ISVC_CRD))
    dsc_version = _dsc_version(source)
    dsci_versions = source.served_versions(R.DSCI_GROUP)
    prefetch(source, Read.list(R.DSC_GROUP, dsc_version, "datascienceclusters"),
             *[Read.list(R.DSCI_GROUP, v, "dscinitializations") for v in dsci_versions[:1]])
    dsc = _single_dsc(source, dsc_version)
    dsci = _single_dsci(source, dsci_versions)
    release_name, release_version = _release_of(dsc, dsci)
    release = _release_row(release_name, release_version)
    namespace = _applications_namespace(source, dsci, release)
    prefetch(source, Read.get("apps", "v1", "deployments", R.OPERATOR_DEPLOYMENT, namespace),
             Read.get("", "v1", "configmaps", R.OPERATOR_CONFIGMAP, namespace),
             Read.get("", "v1", "configmaps", R.DSC_CONFIGMAP, namespace))
    operator = _operator_facts(source, namespace, release)
    return ClusterFacts(
        release=release,
        release_version=release_version,
        release_name=release_name,
        dsc_name=dsc["metadata"]["name"],
        dsc_api_version=f"{R.DSC_GROUP}/{dsc_version}",
        dsc=dsc,
        dsci_name=(dsci or {}).get("metadata", {}).get("name"),
        applications_namespace=namespace,
        dsc_has_eval_fields=_dsc_schema_has_eval(source, dsc_version),
        kserve_crd_present=source.get(CRD_GROUP, CRD_VERSION, CRD_PLURAL, R.KSERVE_ISVC_CRD) is not None,
        operator=operator,
        operator_config=source.get("", "v1", "configmaps", R.OPERATOR_CONFIGMAP, namespace),
        dsc_config=source.get("", "v1", "configmaps", R.DSC_CONFIGMAP, namespace),
    )


def _dsc_version(source: ObjectSource) -> str:
    versions = source.served_versions(R.DSC_GROUP)
    if not versions:
        raise OpenShiftAIMissing(
            "this cluster has no DataScienceCluster API: OpenShift AI / Open Data Hub is not installed",
            hint="install the operator first",
        )
    return versions[0]


def _single_dsc(source: ObjectSource, version: str) -> JSON:
    items = source.list(R.DSC_GROUP, version, "datascienceclusters")
    if not items:
        raise OpenShiftAIMissing("OpenShift AI is installed but no DataScienceCluster exists", hint="create one")
    if len(items) > 1:
        names = ", ".join(i["metadata"]["name"] for i in items)
        raise PrerequisiteError(f"expected one DataScienceCluster, found {len(items)}: {names}")
    return items[0]


def _single_dsci(source: ObjectSource, versions: list[str]) -> JSON | None:
    if not versions:
        return None
    items = source.list(R.DSCI_GROUP, versions[0], "dscinitializations")
    return items[0] if items else None


def _release_of(dsc: JSON, dsci: JSON | None) -> tuple[str, str]:
    for obj in (dsc, dsci or {}):
        release = obj.get("status", {}).get("release") or {}
        if release.get("version"):
            return str(release.get("name") or R.RHOAI_RELEASE_NAME), str(release["version"])
    raise PrerequisiteError(
        "cannot tell the OpenShift AI release: DataScienceCluster status.release is empty",
        hint="wait until the platform operator has reconciled the DSC",
    )


def _release_row(name: str, version: str) -> Release:
    try:
        return R.release_for(R.platform_of_release_name(name), R.parse_version(version))
    except ValueError as exc:
        raise PrerequisiteError(str(exc)) from None


def _applications_namespace(source: ObjectSource, dsci: JSON | None, release: Release) -> str:
    """DSCI spec > the namespace labelled as the application namespace > the platform default."""
    from_dsci = (dsci or {}).get("spec", {}).get("applicationsNamespace")
    if from_dsci:
        return str(from_dsci)
    labelled = source.list("", "v1", "namespaces", label_selector="opendatahub.io/application-namespace=true")
    if labelled:
        return str(labelled[0]["metadata"]["name"])
    return release.default_applications_namespace


def _operator_facts(source: ObjectSource, namespace: str, release: Release) -> OperatorFacts:
    deployment = source.get("apps", "v1", "deployments", R.OPERATOR_DEPLOYMENT, namespace)
    # Never hard-code the pod label: it changed in 3.5. Read the Deployment's own selector.
    selector = dict((deployment or {}).get("spec", {}).get("selector", {}).get("matchLabels") or {})
    objects: list[JSON] = []
    if selector:
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        objects = list(source.list("", "v1", "pods", namespace, label_selector=label_selector))
    return OperatorFacts(namespace=namespace, deployment=deployment, selector=selector,
                         pods=[_operator_pod(p) for p in objects], pod_objects=objects)


def _operator_pod(pod: JSON) -> OperatorPod:
    status = pod.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    meta = pod.get("metadata", {})
    return OperatorPod(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        phase=status.get("phase", ""),
        ready=ready,
        start_time=status.get("startTime"),
        annotations=dict(meta.get("annotations") or {}),
    )


def _dsc_schema_has_eval(source: ObjectSource, version: str) -> bool:
    """Ask the CRD itself rather than trusting the release number (devFlags builds, z-streams)."""
    crd = source.get(CRD_GROUP, CRD_VERSION, CRD_PLURAL, f"datascienceclusters.{R.DSC_GROUP}")
    if not crd:
        return False
    for served in crd.get("spec", {}).get("versions", []):
        if served.get("name") != version:
            continue
        schema = served.get("schema", {}).get("openAPIV3Schema", {})
        trustyai = _dig(schema, "spec", "components", "trustyai")
        return "eval" in (trustyai.get("properties") or {})
    return False


def _dig(schema: JSON, *path: str) -> JSON:
    node = schema
    for key in path:
        node = (node.get("properties") or {}).get(key) or {}
    return node
