"""The sandbox's profiles against the upstream CRDs and manifests of the same release.

- Our minimal CRDs are a faithful subset of upstream: every property we declare exists upstream with the
  same type, enum, pattern, default and format (known, documented differences are listed below).
- The release table agrees with upstream: served/storage versions, eval fields, mcpGuardrailsMode,
  the component CRD, kueue states, status fields; and with the TrustyAI manifests: pod labels,
  --enable-services, params.env lmes-* defaults.
- Every object, patch and status the project writes validates against the UPSTREAM CRD in a real
  apiserver (the upstream CRD is installed under a renamed group, conversion webhook stripped, and
  every write uses fieldValidation=Strict, so an unknown field is an error, not silently pruned).

Upstream files are read from ../shared/fixtures (never copied into the repo); tests skip without them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.releases import PROFILES, Profile
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import platform_operator as PO
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox.crds import dsc_crd, dsci_crd, lmevaljob_crd, trustyai_component_crd

# profile name -> file prefix in fixtures/crds/platform
UPSTREAM_PREFIX = {
    "rhoai-2.16": "rhoai-2.16", "rhoai-2.22": "rhoai-2.22", "rhoai-2.25": "rhoai-2.25", "rhoai-3.0": "rhoai-3.0",
    "rhoai-3.3": "rhoai-3.3", "rhoai-3.5": "rhoai-3.5", "odh-2.35": "odh-2.35.0", "odh-3.5": "odh-3.5.0",
}
# Differences we chose, each documented in the README's fidelity section.
ALLOWED_DIFFERENCES = {
    # rhoai-3.0's v2 Go type drops Managed from the kueue enum; 3.3+ restored it for upgrades. Our 3.0
    # line keeps it (the admission policy refuses it either way).
    ("rhoai-3.0", "datascienceclusters", "v2", "spec.components.kueue.managementState", "enum"),
}
PLURALS = ("datascienceclusters", "dscinitializations", "trustyais")


def _profiles() -> list[str]:
    return list(PROFILES)


def upstream_crd(fixtures: Path, profile: str, plural: str) -> dict[str, Any] | None:
    path = fixtures / "crds" / "platform" / f"{UPSTREAM_PREFIX[profile]}_{plural}.yaml"
    if not path.exists():
        return None
    return dict(yaml.safe_load(path.read_text()))


def ours(profile: Profile, plural: str) -> dict[str, Any] | None:
    release = profile.release
    return {"datascienceclusters": dsc_crd, "dscinitializations": dsci_crd,
            "trustyais": trustyai_component_crd}[plural](release)


def _versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd["spec"]["versions"]}


def schema_differences(mine: dict[str, Any], theirs: dict[str, Any], path: str = "") -> list[tuple[str, str]]:
    """(path, what) for every constraint of `mine` that `theirs` does not state identically."""
    out: list[tuple[str, str]] = []
    if mine.get("x-kubernetes-preserve-unknown-fields") and "properties" not in mine:
        return out  # a subtree we deliberately do not model (core Kubernetes types)
    for key in ("type", "pattern", "default", "format", "maxLength", "minimum"):
        if key in mine and mine.get(key) != theirs.get(key):
            out.append((path, key))
    if ("enum" in mine or "enum" in theirs) and sorted(mine.get("enum") or []) != sorted(theirs.get("enum") or []):
        out.append((path, "enum"))
    if not set(mine.get("required") or []) <= set(theirs.get("required") or []):
        out.append((path, "required"))
    rules = {v["rule"] for v in theirs.get("x-kubernetes-validations") or []}
    if any(v["rule"] not in rules for v in mine.get("x-kubernetes-validations") or []):
        out.append((path, "x-kubernetes-validations"))
    for name, sub in (mine.get("properties") or {}).items():
        child = f"{path}.{name}" if path else name
        upstream = (theirs.get("properties") or {}).get(name)
        if upstream is None:
            out.append((child, "missing upstream"))
            continue
        out.extend(schema_differences(sub, upstream, child))
    if isinstance(mine.get("items"), dict):
        out.extend(schema_differences(mine["items"], theirs.get("items") or {}, f"{path}[]"))
    if isinstance(mine.get("additionalProperties"), dict):
        out.extend(schema_differences(mine["additionalProperties"], theirs.get("additionalProperties") or {},
                                      f"{path}{{}}"))
    return out


# -- our CRDs are subsets of upstream -----------------------------------------------------------------
@pytest.mark.shared
@pytest.mark.parametrize("name", _profiles())
def test_own_platform_crds_state_exactly_what_upstream_states(name: str, fixtures_dir: Path) -> None:
    profile = PROFILES[name]
    checked = 0
    for plural in PLURALS:
        mine, theirs = ours(profile, plural), upstream_crd(fixtures_dir, name, plural)
        assert (mine is None) == (theirs is None), f"{plural}: component CRD presence differs from upstream"
        if mine is None or theirs is None:
            continue
        assert mine["spec"]["names"] == {k: v for k, v in theirs["spec"]["names"].items()}, plural
        assert mine["spec"]["scope"] == theirs["spec"]["scope"] == "Cluster"
        upstream_versions = _versions(theirs)
        for version_name, version in _versions(mine).items():
            assert version_name in upstream_versions, f"{plural} {version_name} not served upstream"
            theirs_version = upstream_versions[version_name]
            assert version["storage"] == theirs_version["storage"], f"{plural} {version_name} storage"
            assert version["served"] == theirs_version["served"] is True
            diffs = schema_differences(version["schema"]["openAPIV3Schema"],
                                       theirs_version["schema"]["openAPIV3Schema"])
            unexpected = [d for d in diffs if (name, plural, version_name, *d) not in ALLOWED_DIFFERENCES]
            assert not unexpected, f"{plural} {version_name}: {unexpected}"
            checked += 1
    assert checked >= 2


@pytest.mark.shared
def test_own_lmevaljob_crd_states_exactly_what_upstream_states(fixtures_dir: Path) -> None:
    theirs = yaml.safe_load((fixtures_dir / "crds" / "trustyai" / "lmevaljobs.yaml").read_text())
    for profile in PROFILES.values():
        mine = lmevaljob_crd(profile.release)
        assert mine["spec"]["names"] == theirs["spec"]["names"]
        assert mine["metadata"]["name"] == theirs["metadata"]["name"] == "lmevaljobs.trustyai.opendatahub.io"
        diffs = schema_differences(mine["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                                   theirs["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        # The fixture is TSO main (after v1.38): spec.model has an enum no shipped release has yet.
        allowed = {("spec.model", "enum")} if not profile.release.lmevaljob_model_enum else set()
        assert set(diffs) <= allowed, f"{profile.name}: {diffs}"
        spec = mine["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert spec["batchSize"]["type"] == "string"
        assert spec["modelArgs"]["items"]["properties"]["value"]["pattern"] == r"^[a-zA-Z0-9._/:\- ]*$"
        recipe = spec["taskList"]["properties"]["taskRecipes"]["items"]["properties"]
        assert recipe["template"]["type"] == "object"


# -- the release table agrees with upstream --------------------------------------------------------------
def _trustyai_spec(crd: dict[str, Any], version: str) -> dict[str, Any]:
    root = _versions(crd)[version]["schema"]["openAPIV3Schema"]
    return dict(root["properties"]["spec"]["properties"]["components"]["properties"]["trustyai"])


@pytest.mark.shared
@pytest.mark.parametrize("name", _profiles())
def test_release_table_matches_upstream_crds(name: str, fixtures_dir: Path) -> None:
    release = PROFILES[name].release
    dsc = upstream_crd(fixtures_dir, name, "datascienceclusters")
    assert dsc is not None
    versions = dsc["spec"]["versions"]
    assert tuple(v["name"] for v in versions if v["served"]) == release.dsc_versions
    assert [v["name"] for v in versions if v["storage"]] == [release.dsc_storage_version]
    for version in release.dsc_versions:
        trustyai = _trustyai_spec(dsc, version)["properties"]
        assert ("eval" in trustyai) == release.has_dsc_eval_fields, version
        assert ("mcpGuardrailsMode" in trustyai) == release.has_mcp_guardrails_mode, version
        if release.has_dsc_eval_fields:
            lmeval = trustyai["eval"]["properties"]["lmeval"]["properties"]
            assert lmeval["permitOnline"]["enum"] == ["allow", "deny"]
            assert lmeval["permitOnline"]["default"] == "deny"
            assert trustyai["eval"]["required"] == ["lmeval"]
        assert trustyai["managementState"]["enum"] == ["Managed", "Removed"]
    v1 = _versions(dsc)["v1"]["schema"]["openAPIV3Schema"]
    kueue = v1["properties"]["spec"]["properties"]["components"]["properties"]["kueue"]
    assert tuple(kueue["properties"]["managementState"]["enum"]) == release.kueue_management_states
    status = _versions(dsc)[release.dsc_storage_version]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert ("observedGeneration" in status["properties"]) == (release.ready_condition_kind == "component")
    assert ("trustyai" in (status["properties"].get("components") or {}).get("properties", {})) == (
        release.ready_condition_kind == "component")
    assert (upstream_crd(fixtures_dir, name, "trustyais") is not None) == release.has_component_cr
    dsci = upstream_crd(fixtures_dir, name, "dscinitializations")
    assert dsci is not None
    namespace = _versions(dsci)[release.dsc_storage_version]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["applicationsNamespace"]
    assert namespace["default"] == release.default_applications_namespace


MANIFEST_PROFILES = {"rhoai-2.16": "rhoai-2.16", "rhoai-2.25": "rhoai-2.25", "rhoai-3.5": "rhoai-3.5"}


def _manifest(fixtures: Path, prefix: str, stem: str) -> str:
    return (fixtures / "manifests" / "trustyai-operator" / f"{prefix}__{stem}").read_text()


@pytest.mark.shared
@pytest.mark.parametrize("name", list(MANIFEST_PROFILES))
def test_release_table_matches_trustyai_manifests(name: str, fixtures_dir: Path) -> None:
    release = PROFILES[name].release
    prefix = MANIFEST_PROFILES[name]
    params = dict(line.split("=", 1) for line in _manifest(fixtures_dir, prefix, "overlays_rhoai_params.env")
                  .splitlines() if "=" in line and not line.startswith("#"))
    lmes = {k: v for k, v in params.items() if k.startswith("lmes-") and not k.endswith("-image")}
    assert lmes == release.lmes_defaults
    rendered = PO.operator_configmap(release, release.default_applications_namespace)["data"]
    assert set(params) >= {k for k in rendered if k in params}
    assert all(rendered[k] == params[k] for k in lmes)
    manager = yaml.safe_load(_manifest(fixtures_dir, prefix, "manager_manager.yaml"))
    pod_labels = manager["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["control-plane"] == release.operator_pod_labels["control-plane"]
    assert manager["spec"]["selector"]["matchLabels"]["control-plane"] == release.operator_pod_labels["control-plane"]
    kustomizations = _manifest(fixtures_dir, prefix, "base_kustomization.yaml") + _manifest(
        fixtures_dir, prefix, "overlays_rhoai_kustomization.yaml")
    assert "app.kubernetes.io/part-of: trustyai" in kustomizations
    assert release.operator_pod_labels["app.kubernetes.io/part-of"] == "trustyai"
    args = manager["spec"]["template"]["spec"]["containers"][0]["args"]
    services = args[args.index("--enable-services") + 1] if "--enable-services" in args else None
    if services is None:  # 3.5 sets it with a JSON6902 patch in the overlay
        services = _manifest(fixtures_dir, prefix, "overlays_rhoai_kustomization.yaml").split(
            'value: "--enable-services"')[1].split('value: "')[1].split('"')[0]
    assert services == release.enable_services
    deployment = PO.operator_deployment(release, release.default_applications_namespace)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == manager["spec"]["template"]["spec"]["containers"][0]["name"] == "manager"
    assert container["args"] == ["--leader-elect", "--enable-services", services]


# -- everything we write validates against the upstream CRDs in a real apiserver ---------------------------
def renamed(crd: dict[str, Any], group: str) -> dict[str, Any]:
    """The upstream CRD under another group (ours occupy the real one); no conversion webhook to call."""
    out = copy.deepcopy(crd)
    out["spec"]["group"] = group
    out["metadata"] = {"name": f"{out['spec']['names']['plural']}.{group}"}
    out["spec"].pop("conversion", None)
    return out


def strict(kube: Kube, method: str, path: str, body: dict[str, Any], content_type: str = "application/json") -> Any:
    return kube.request(method, path, body=body, content_type=content_type,
                        query={"fieldValidation": "Strict", "fieldManager": "sandbox-tests"})


def regroup(obj: dict[str, Any], group: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    version = out["apiVersion"].split("/", 1)[1]
    out["apiVersion"] = f"{group}/{version}"
    return out


def observed_states() -> Iterator[PO.Observed]:
    for managed in (True, False):
        for kserve in (True, False):
            for available in (True, False):
                yield PO.Observed(managed, kserve, deployment_available=available, dsc_generation=3,
                                  component_generation=2)


@pytest.mark.shared
@pytest.mark.controlplane
@pytest.mark.parametrize("name", _profiles())
def test_every_object_patch_and_status_we_write_is_valid_upstream(name: str, fixtures_dir: Path, kube: Kube) -> None:
    profile = PROFILES[name]
    suffix = name.replace(".", "-")
    groups = {plural: f"{plural}.{suffix}.upstream.test" for plural in PLURALS}
    installed = []
    try:
        for plural, group in groups.items():
            crd = upstream_crd(fixtures_dir, name, plural)
            if crd is not None:
                applied = P.apply(kube, f"{P.CRD_PATH}/{plural}.{group}", renamed(crd, group))
                installed.append(applied["metadata"]["name"])
        P.wait_established(kube, installed)
        _write_platform_objects(kube, profile, groups)
    finally:
        for crd_name in installed:
            kube.delete(f"{P.CRD_PATH}/{crd_name}")


def _write_platform_objects(kube: Kube, profile: Profile, groups: dict[str, str]) -> None:
    release = profile.release
    storage = release.dsc_storage_version
    dsci_group, dsc_group, component_group = (groups["dscinitializations"], groups["datascienceclusters"],
                                              groups["trustyais"])
    dsci_path = resource_path(dsci_group, storage, "dscinitializations")
    strict(kube, "POST", dsci_path, regroup(P.dsci_object(profile), dsci_group))
    strict(kube, "PATCH", f"{dsci_path}/{P.DSCI_NAME}/status",
           {"status": P.dsci_status(profile, "2026-01-01T00:00:00Z")}, "application/merge-patch+json")

    dsc_path = resource_path(dsc_group, storage, "datascienceclusters")
    options = P.InstallOptions(eval_permissions=("allow", "deny") if release.has_dsc_eval_fields else None)
    strict(kube, "POST", dsc_path, regroup(P.dsc_object(profile, options), dsc_group))
    named = f"{dsc_path}/{P.DSC_NAME}"
    # The patches bootstrap and the scenarios send, through every served version.
    patches = [{"spec": {"components": {"trustyai": {"managementState": "Managed"}}}}]
    if release.has_dsc_eval_fields:
        patches.append({"spec": {"components": {"trustyai": {"eval": {"lmeval": {
            "permitOnline": "allow", "permitCodeExecution": "allow"}}}}}})
    for version in release.dsc_versions:
        for patch in patches:
            strict(kube, "PATCH", resource_path(dsc_group, version, "datascienceclusters", None, P.DSC_NAME), patch,
                   "application/merge-patch+json")
    # Every status the platform operator can write.
    ready = {"status": "True", "reason": "Ready", "message": ""}
    for seen in observed_states():
        status = PO.dsc_status(release, seen, P.release_status(profile), "2026-01-01T00:00:00Z", ready)
        strict(kube, "PATCH", f"{named}/status", {"status": status}, "application/merge-patch+json")
    written = kube.get(named)
    assert written["status"]["release"] == {"name": release.release_name, "version": profile.version}
    if release.has_component_cr:
        trustyai_spec = written["spec"]["components"]["trustyai"]
        component_path = resource_path(component_group, "v1alpha1", "trustyais")
        strict(kube, "POST", component_path, regroup(PO.component_cr(release, trustyai_spec), component_group))
        for seen in observed_states():
            conditions = PO.component_conditions(release, seen, "2026-01-01T00:00:00Z")
            strict(kube, "PATCH", f"{component_path}/{P.COMPONENT_CR_NAME}/status",
                   {"status": {"conditions": conditions, "releases": PO.COMPONENT_RELEASES, "phase": "Ready",
                               "observedGeneration": 1}}, "application/merge-patch+json")
        with pytest.raises(ApiError, match="default-trustyai"):  # the upstream CEL rule is live
            body = regroup(PO.component_cr(release, trustyai_spec), component_group)
            body["metadata"]["name"] = "another"
            strict(kube, "POST", component_path, body)
    # A wrong eval value is refused upstream and by our CRD alike (strings allow/deny, not booleans).
    if release.has_dsc_eval_fields:
        with pytest.raises(ApiError, match="permitOnline"):
            strict(kube, "PATCH", named, {"spec": {"components": {"trustyai": {"eval": {"lmeval": {
                "permitOnline": True}}}}}}, "application/merge-patch+json")


@pytest.mark.shared
@pytest.mark.controlplane
def test_seed_jobs_are_valid_against_the_upstream_lmevaljob_crd(fixtures_dir: Path, kube: Kube) -> None:
    theirs = yaml.safe_load((fixtures_dir / "crds" / "trustyai" / "lmevaljobs.yaml").read_text())
    group = "lmevaljobs.upstream.test"
    crd = renamed(theirs, group)
    name = P.apply(kube, f"{P.CRD_PATH}/lmevaljobs.{group}", crd)["metadata"]["name"]
    namespace = "sandbox-upstream-jobs"
    try:
        P.wait_established(kube, [name])
        P.ensure_namespace(kube, namespace)
        path = resource_path(group, R.LMEVAL_VERSION, "lmevaljobs", namespace)
        for job in J.SEED_JOBS:
            created = strict(kube, "POST", path, regroup(job.for_namespace(namespace), group))
            assert created["spec"]["model"] == job.manifest["spec"]["model"]
        bad = regroup(J.seed_jobs(namespace)[0], group)
        bad["metadata"]["name"] = "unquoted-batch-size"
        bad["spec"]["batchSize"] = 1
        with pytest.raises(ApiError, match="batchSize"):
            strict(kube, "POST", path, bad)
    finally:
        kube.delete(f"{P.CRD_PATH}/{name}")
        kube.delete(resource_path("", "v1", "namespaces", None, namespace))


def test_generated_crds_are_json_serialisable_and_named_by_group() -> None:
    for profile in PROFILES.values():
        for crd in filter(None, (ours(profile, p) for p in PLURALS)):
            json.dumps(crd)
            spec = crd["spec"]
            assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
            assert [v["name"] for v in spec["versions"] if v["storage"]] in (
                [profile.release.dsc_storage_version], ["v1alpha1"])
