"""Release profiles: install one OpenShift AI / Open Data Hub release's API surface on a real apiserver.

A profile (`releases.PROFILES`: rhoai-2.16 ... odh-3.5) installs, through the API only:
- the LMEvalJob CRD that the profile's TrustyAI operator line ships (`operator_build.shipped_crd`: its build,
  its sources in ../shared/upstream, or v1.38.0 from the Go module proxy; without any, the project's own
  CRD, with a warning), the project's own minimal CRDs for the platform (`sandbox.crds`), and waits until
  they are Established;
- on 3.x, a ValidatingAdmissionPolicy + binding standing in for the operator's DSC webhook that refuses
  any create/update while kueue is `Managed` (the apiserver itself denies, with the real message);
- the seed objects: the applications / monitoring / operator namespaces, the DSCI `default-dsci`, and
  the DSC `default-dsc` with trustyai `Removed`, kserve `Managed`, and `status.release {name, version}`.

The platform operator simulator (platform_operator.py) takes it from there. Everything version-specific
comes from the release table; nothing here compares version numbers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.errors import UsageError, WaitTimeout
from lmeval_setup.kube.client import APPLY_PATCH, JSON, ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.releases import PROFILES, Profile, Release
from lmeval_setup.sandbox import operator_build
from lmeval_setup.sandbox.crds import crds_for
from lmeval_setup.sandbox.crds.schema import Schema

DSC_NAME = "default-dsc"
DSCI_NAME = "default-dsci"
COMPONENT_CR_NAME = "default-trustyai"
SANDBOX_MANAGER = "lmeval-sandbox"  # field manager of what the profile itself writes
KUEUE_POLICY = "datasciencecluster-kueue-managed-state"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
LMEVALJOB_CRD = f"lmevaljobs.{R.LMEVAL_GROUP}"

log = logging.getLogger("lmeval_setup.sandbox.profiles")

__all__ = ["PROFILES", "InstallOptions", "get_profile", "install_profile"]


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


# -- where things live ---------------------------------------------------------------------------------
def dsc_path(release: Release, name: str | None = None, *, status: bool = False, api: str | None = None) -> str:
    """The DSC through the storage (= preferred) version, unless `api` asks for another served one."""
    return resource_path(R.DSC_GROUP, api or release.dsc_storage_version, "datascienceclusters", None, name,
                         "status" if status and name else None)


def dsci_path(release: Release, name: str | None = None, *, status: bool = False) -> str:
    return resource_path(R.DSCI_GROUP, release.dsc_storage_version, "dscinitializations", None, name,
                         "status" if status and name else None)


def component_path(name: str | None = None, *, status: bool = False) -> str:
    return resource_path(R.TRUSTYAI_COMPONENT_GROUP, "v1alpha1", "trustyais", None, name,
                         "status" if status and name else None)


def operator_namespace(release: Release) -> str:
    return "redhat-ods-operator" if release.platform == "rhoai" else "opendatahub-operator-system"


def monitoring_namespace(release: Release) -> str:
    return "redhat-ods-monitoring" if release.platform == "rhoai" else "opendatahub"


# -- seed objects ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstallOptions:
    """What a scenario may change about the seed (defaults: a freshly installed platform)."""

    kserve: bool = True  # install the InferenceService CRD and set kserve Managed
    trustyai: str = "Removed"
    _: KW_ONLY
    kueue: str = "Removed"
    eval_permissions: tuple[str, str] | None = None  # (permitOnline, permitCodeExecution) on 2.25+


def dsc_object(profile: Profile, options: InstallOptions = InstallOptions()) -> JSON:
    release = profile.release
    trustyai: JSON = {"managementState": options.trustyai}
    if options.eval_permissions and release.has_dsc_eval_fields:
        online, code = options.eval_permissions
        trustyai["eval"] = {"lmeval": {"permitOnline": online, "permitCodeExecution": code}}
    components: JSON = {
        "dashboard": {"managementState": "Managed"},
        "workbenches": {"managementState": "Managed"},
        "kserve": {"managementState": "Managed" if options.kserve else "Removed"},
        "kueue": {"managementState": options.kueue},
        "modelregistry": {"managementState": "Removed"},
        "trustyai": trustyai,
    }
    return {
        "apiVersion": f"{R.DSC_GROUP}/{release.dsc_storage_version}",
        "kind": "DataScienceCluster",
        "metadata": {"name": DSC_NAME},
        "spec": {"components": components},
    }


def dsci_object(profile: Profile) -> JSON:
    release = profile.release
    return {
        "apiVersion": f"{R.DSCI_GROUP}/{release.dsc_storage_version}",
        "kind": "DSCInitialization",
        "metadata": {"name": DSCI_NAME},
        "spec": {
            "applicationsNamespace": release.default_applications_namespace,
            "monitoring": {"managementState": "Managed", "namespace": monitoring_namespace(release)},
            "trustedCABundle": {"managementState": "Managed", "customCABundle": ""},
        },
    }


def release_status(profile: Profile) -> JSON:
    return {"name": profile.release.release_name, "version": profile.version}


def dsci_status(profile: Profile, now: str) -> JSON:
    condition: JSON = {
        "type": "ReconcileComplete", "status": "True", "reason": "ReconcileCompleted",
        "message": "Reconcile completed successfully", "lastTransitionTime": now,
    }
    return {"phase": "Ready", "conditions": [condition], "release": release_status(profile)}


def namespaces(release: Release) -> list[str]:
    return sorted({release.default_applications_namespace, monitoring_namespace(release), operator_namespace(release)})


def kueue_admission_policy(release: Release) -> list[JSON]:
    """The 3.x DSC webhook's `denyKueueManagedState`, as a CEL policy the apiserver enforces itself.

    Like the webhook it matches CREATE and UPDATE of the DSC through any served version, and not the
    status subresource (the operator must still be able to report status).
    """
    if not release.kueue_managed_blocks_dsc:
        return []
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": KUEUE_POLICY},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [R.DSC_GROUP], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": ["datascienceclusters"],
            }]},
            "validations": [{
                "expression": "object.?spec.?components.?kueue.?managementState.orValue('') != 'Managed'",
                "message": R.KUEUE_MANAGED_MESSAGE,
                "reason": "Forbidden",  # the webhook answers 403, as admission denials do
            }],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": KUEUE_POLICY},
        "spec": {"policyName": KUEUE_POLICY, "validationActions": ["Deny"]},
    }
    return [policy, binding]


# -- installation ---------------------------------------------------------------------------------------
def apply(kube: Kube, path: str, body: JSON, manager: str = SANDBOX_MANAGER) -> JSON:
    """Server-side apply with our own field manager (Kube.apply always uses the CLI's)."""
    result: JSON = kube.request("PATCH", path, body=json.dumps(body), content_type=APPLY_PATCH,
                                query={"fieldManager": manager, "force": "true"})
    return result


def profile_crds(profile: Profile, *, kserve: bool = True) -> list[Schema]:
    """The CRDs a profile installs: ours for the platform, the LMEvalJob CRD its operator line ships."""
    crds = crds_for(profile.release, kserve=kserve)
    shipped = operator_build.shipped_crd(profile.name)
    if shipped is None:
        log.warning("%s: the sandbox's own LMEvalJob CRD stands in for the shipped one (%s)", profile.name,
                    operator_build.missing_crd_reason(profile.name))
        return crds
    return [shipped.body if crd["metadata"]["name"] == LMEVALJOB_CRD else crd for crd in crds]


def apply_crds(kube: Kube, crds: Iterable[JSON], timeout: float = 30.0) -> None:
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        apply(kube, f"{CRD_PATH}/{name}", crd)
        names.append(name)
    wait_established(kube, names, timeout)


def wait_established(kube: Kube, names: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        pending = [n for n in pending if not _established(kube.get_or_none(f"{CRD_PATH}/{n}"))]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise WaitTimeout(f"CRDs not Established after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.1)


def wait_admitted(kube: Kube, collection: str, bodies: Iterable[JSON], timeout: float = 30.0) -> None:
    """Dry-run create each body until the apiserver admits them all: after a CRD's schema changes, the
    apiserver validates with the old one until its CRD informer has seen the update (Established is already
    True, so wait_established cannot tell). Under load that took long enough for a create to be refused by
    an enum the new schema no longer has. A body still refused at `timeout` raises that refusal."""
    deadline = time.monotonic() + timeout
    for body in bodies:
        while True:
            try:
                kube.create(collection, body, dry_run=True)
                break
            except ApiError as exc:
                if exc.status != 422 or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)


def _established(crd: JSON | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def ensure_namespace(kube: Kube, name: str, labels: dict[str, str] | None = None) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    apply(kube, resource_path("", "v1", "namespaces", None, name), body)


def create_if_missing(kube: Kube, collection: str, body: JSON) -> JSON:
    try:
        return kube.create(collection, body)
    except ApiError as exc:
        if exc.conflict:
            return kube.get(f"{collection}/{body['metadata']['name']}")
        raise


def install_profile(kube: Kube, profile: Profile | str, options: InstallOptions = InstallOptions()) -> Profile:
    """Install CRDs, admission policy and seed objects. Idempotent: a second call changes nothing."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    release = profile.release
    apply_crds(kube, profile_crds(profile, kserve=options.kserve))
    for ns in namespaces(release):
        ensure_namespace(kube, ns)
    now = _now()
    create_if_missing(kube, dsci_path(release), dsci_object(profile))
    kube.merge_patch(dsci_path(release, DSCI_NAME, status=True), {"status": dsci_status(profile, now)})
    # The DSC exists before the admission policy: an upgraded cluster may carry kueue Managed already.
    dsc = create_if_missing(kube, dsc_path(release), dsc_object(profile, options))
    if not dsc.get("status", {}).get("release"):
        kube.merge_patch(dsc_path(release, DSC_NAME, status=True),
                         {"status": {"release": release_status(profile), "phase": "Progressing"}})
    policy = kueue_admission_policy(release)
    if policy:
        apply(kube, "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/" + KUEUE_POLICY, policy[0])
        apply(kube, "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/" + KUEUE_POLICY,
              policy[1])
        wait_policy_enforced(kube, profile)
    return profile


def wait_policy_enforced(kube: Kube, profile: Profile, timeout: float = 20.0) -> None:
    """A new policy takes a moment to compile and sync; probe with a dry-run create until it denies."""
    probe = dsc_object(profile, InstallOptions(kueue="Managed"))
    probe["metadata"] = {"name": "admission-policy-probe"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.create(dsc_path(profile.release), probe, dry_run=True)
        except ApiError as exc:
            if R.KUEUE_MANAGED_MESSAGE in str(exc):
                return
            raise
        time.sleep(0.2)
    raise WaitTimeout(f"the kueue admission policy was not enforced after {timeout:.0f}s")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def profile_summary(profile: Profile) -> dict[str, Any]:
    release = profile.release
    return {
        "name": profile.name,
        "release": f"{release.release_name} {profile.version}",
        "dsc_api": f"{R.DSC_GROUP}/{release.dsc_storage_version}",
        "served": ",".join(release.dsc_versions),
        "applications_namespace": release.default_applications_namespace,
        "permissions": "DSC eval.lmeval" if release.has_dsc_eval_fields else "operator ConfigMap + restart",
    }
