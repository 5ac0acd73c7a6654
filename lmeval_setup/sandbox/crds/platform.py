"""The platform CRDs (DataScienceCluster, DSCInitialization, TrustyAI component) of one release.

Written from ../shared/reference/platform-versions.md, §1-§4, and generated from the release table so
that eight profiles do not mean eight hand-copied files. They are *minimal*: every property we model
has the upstream type, enum, pattern and default (tests/integration/test_sandbox_profiles.py checks
each one against the upstream CRD of the same release), but components and fields LM-Eval never
touches are reduced to `managementState` or left out (the apiserver prunes what a schema omits).

Served versions on 3.x: upstream serves v1 and v2 with a conversion *webhook*, which cannot run here.
We serve v2 as storage (and so preferred, being the newest) and keep v1 served with conversion
`None`. That is honest for everything LM-Eval reads or writes, because the trustyai, kserve and kueue
paths are identical in v1 and v2 (spec and status); what `None` cannot do is what the webhook does for
other components (datasciencepipelines <-> aipipelines, dropping codeflare / modelmeshserving) and
synthesising `status.installedComponents` for v1 readers. Those are listed in the README's fidelity
section; v1 clients that only touch trustyai see exactly what they would see on a real 3.x cluster.
"""

from __future__ import annotations

from lmeval_setup.platform.releases import (
    DSC_GROUP,
    DSCI_GROUP,
    TRUSTYAI_COMPONENT_GROUP,
    Release,
)
from lmeval_setup.sandbox.crds.schema import (
    Schema,
    array,
    boolean,
    crd,
    integer,
    obj,
    string,
    version,
)

MANAGEMENT_PATTERN = "^(Managed|Unmanaged|Force|Removed)$"
NAMESPACE_PATTERN = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)

# spec.components keys of each API version (platform-versions.md §1.3). Components LM-Eval does not
# care about are modelled by their managementState only.
V1_COMPONENTS = (
    "codeflare", "dashboard", "datasciencepipelines", "kserve", "kueue", "modelmeshserving",
    "modelregistry", "ray", "trainingoperator", "trustyai", "workbenches",
)
V2_COMPONENTS = (
    "aipipelines", "dashboard", "feastoperator", "kserve", "kueue", "llamastackoperator",
    "modelregistry", "ray", "trainingoperator", "trustyai", "workbenches",
)

READY_COLUMNS = [
    {"jsonPath": '.status.conditions[?(@.type=="Ready")].status', "name": "Ready", "type": "string"},
    {"jsonPath": '.status.conditions[?(@.type=="Ready")].reason', "name": "Reason", "type": "string"},
]


def management_state(states: tuple[str, ...] = ("Managed", "Removed"), default: str | None = None) -> Schema:
    return string(enum=states, pattern=MANAGEMENT_PATTERN, default=default)


def _is_component_era(release: Release) -> bool:
    return release.ready_condition_kind == "component"


def conditions_schema(release: Release) -> Schema:
    """Legacy (2.16) conditions are plain strings; the component era adds severity/observedGeneration."""
    if not _is_component_era(release):
        item = obj(
            {
                "lastHeartbeatTime": string(fmt="date-time"),
                "lastTransitionTime": string(fmt="date-time"),
                "message": string(),
                "reason": string(),
                "status": string(),
                "type": string(),
            },
            required=["status", "type"],
        )
        return array(item)
    item = obj(
        {
            "lastHeartbeatTime": string(fmt="date-time"),
            "lastTransitionTime": string(fmt="date-time"),
            "message": string(),
            "observedGeneration": integer("int64", minimum=0),
            "reason": string(),
            "severity": string(),
            "status": string(enum=["True", "False", "Unknown"]),
            "type": string(pattern=CONDITION_TYPE_PATTERN, max_length=316),
        },
        required=["status", "type"],
    )
    return array(item, **{"x-kubernetes-list-type": "atomic"})


def _dev_flags() -> Schema:
    manifest = obj({
        "contextDir": string(default="manifests"),
        "sourcePath": string(default=""),
        "uri": string(default=""),
    })
    return obj({"manifests": array(manifest)})


def lmeval_permissions() -> Schema:
    """eval.lmeval.permitOnline / permitCodeExecution: strings allow|deny (not booleans), default deny."""
    lmeval = obj({
        "permitCodeExecution": string(enum=["allow", "deny"], default="deny"),
        "permitOnline": string(enum=["allow", "deny"], default="deny"),
    })
    return obj({"lmeval": lmeval}, required=["lmeval"])


def trustyai_component_spec(release: Release, *, api: str) -> Schema:
    """spec.components.trustyai of the DSC (api v1 or v2) for this release (§1.5)."""
    props: dict[str, Schema] = {"managementState": management_state()}
    if api == "v1" and release.dsc_versions == ("v1",):
        props["devFlags"] = _dev_flags()  # removed in v3 (RHOAIENG-30940)
    if release.has_dsc_eval_fields:
        props["eval"] = lmeval_permissions()
    if release.has_mcp_guardrails_mode:
        props["mcpGuardrailsMode"] = boolean(default=False)
    return obj(props)


def _component_specs(release: Release, api: str) -> dict[str, Schema]:
    names = V1_COMPONENTS if api == "v1" else V2_COMPONENTS
    specs: dict[str, Schema] = {name: obj({"managementState": management_state()}) for name in names}
    specs["trustyai"] = trustyai_component_spec(release, api=api)
    specs["kueue"] = obj({"managementState": management_state(release.kueue_management_states)})
    return specs


def _component_status() -> Schema:
    release_item = obj(
        {"name": string(), "repoUrl": string(), "version": string()}, required=["name"]
    )
    return obj({
        "managementState": management_state(),
        "releases": array(release_item, **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}),
    })


def _related_objects() -> Schema:
    ref = obj(
        {k: string() for k in ("apiVersion", "fieldPath", "kind", "name", "namespace", "resourceVersion", "uid")},
        map_type="atomic",
    )
    return array(ref)


def _release_status() -> Schema:
    return obj({"name": string(), "version": string()})


def dsc_status(release: Release, api: str) -> Schema:
    props: dict[str, Schema] = {
        "conditions": conditions_schema(release),
        "errorMessage": string(),
        "phase": string(),
        "relatedObjects": _related_objects(),
        "release": _release_status(),
    }
    if api == "v1":
        props["installedComponents"] = obj(additionalProperties={"type": "boolean"})
    if _is_component_era(release):
        props["observedGeneration"] = integer("int64")
        props["components"] = obj({"trustyai": _component_status(), "kserve": _component_status()})
    return obj(props)


def dsc_crd(release: Release) -> Schema:
    versions = []
    for api in release.dsc_versions:
        root = obj({
            "apiVersion": string(),
            "kind": string(),
            "metadata": obj(),
            "spec": obj({"components": obj(_component_specs(release, api))}),
            "status": dsc_status(release, api),
        })
        versions.append(version(api, root, storage=api == release.dsc_storage_version, columns=READY_COLUMNS))
    return crd(DSC_GROUP, "DataScienceCluster", "datascienceclusters", "Cluster", versions, short_names=["dsc"])


def dsci_crd(release: Release) -> Schema:
    namespace = release.default_applications_namespace
    monitoring_ns = "redhat-ods-monitoring" if release.platform == "rhoai" else "opendatahub"
    versions = []
    for api in release.dsc_versions:
        spec_props: dict[str, Schema] = {
            "applicationsNamespace": {
                **string(default=namespace, pattern=NAMESPACE_PATTERN, max_length=63),
                "x-kubernetes-validations": [
                    {"message": "ApplicationsNamespace is immutable", "rule": "self == oldSelf"}
                ],
            },
            "monitoring": obj({
                "managementState": management_state(),
                "namespace": string(default=monitoring_ns, pattern=NAMESPACE_PATTERN, max_length=63),
            }),
            "trustedCABundle": obj(
                {
                    "customCABundle": string(default=""),
                    "managementState": management_state(("Managed", "Removed", "Unmanaged"), default="Removed"),
                },
                required=["customCABundle", "managementState"],
            ),
        }
        if api == "v1":
            spec_props["serviceMesh"] = obj({"managementState": management_state(("Managed", "Removed", "Unmanaged"))})
        # The legacy (2.16) CRD requires applicationsNamespace; later ones rely on its default.
        required = ["applicationsNamespace"] if release.ready_condition_kind == "legacy" else None
        status = obj({
            "conditions": conditions_schema(release),
            "errorMessage": string(),
            "phase": string(),
            "relatedObjects": _related_objects(),
            "release": _release_status(),
        })
        root = obj({
            "apiVersion": string(), "kind": string(), "metadata": obj(),
            "spec": obj(spec_props, required=required), "status": status,
        })
        columns = [
            {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
            {"jsonPath": ".status.phase", "name": "Phase", "type": "string"},
            {"jsonPath": ".metadata.creationTimestamp", "name": "Created At", "type": "string"},
        ]
        versions.append(version(api, root, storage=api == release.dsc_storage_version, columns=columns))
    return crd(DSCI_GROUP, "DSCInitialization", "dscinitializations", "Cluster", versions, short_names=["dsci"])


def trustyai_component_crd(release: Release) -> Schema | None:
    """trustyais.components.platform.opendatahub.io (v1alpha1, cluster-scoped), where the release has it."""
    if not release.has_component_cr:
        return None
    spec_props: dict[str, Schema] = {}
    if release.dsc_versions == ("v1",):
        spec_props["devFlags"] = _dev_flags()
    if release.has_dsc_eval_fields:
        spec_props["eval"] = lmeval_permissions()
    if release.has_mcp_guardrails_mode:
        spec_props["mcpGuardrailsMode"] = boolean(default=False)
    status = obj({
        "conditions": conditions_schema(release),
        "observedGeneration": integer("int64"),
        "phase": string(),
        "releases": _component_status()["properties"]["releases"],
    })
    root = obj(
        {"apiVersion": string(), "kind": string(), "metadata": obj(), "spec": obj(spec_props), "status": status},
        validations=[{"message": "TrustyAI name must be default-trustyai",
                      "rule": "self.metadata.name == 'default-trustyai'"}],
    )
    return crd(
        TRUSTYAI_COMPONENT_GROUP, "TrustyAI", "trustyais", "Cluster",
        [version("v1alpha1", root, storage=True, columns=READY_COLUMNS)],
    )
