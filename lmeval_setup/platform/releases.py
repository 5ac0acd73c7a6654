"""The release table: per OpenShift AI / Open Data Hub release line, what is true about LM-Eval.

This is the single source of truth for every version question. `detect()` picks a row from what a
cluster reports (`status.release`), the sandbox builds its profiles from the same rows, the Ansible
facts module returns the row's fields, and the doctor's cluster rules read them. Facts come from
../shared/reference/platform-versions.md and trustyai-operator.md; tests cross-check them against the
upstream CRDs and manifests in ../shared/fixtures/.

A row describes a *line*: it applies from `since` up to the next row of the same platform.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Literal, TypedDict

Platform = Literal["rhoai", "odh"]
PermissionLayer = Literal["configmap", "dsc"]

RHOAI_RELEASE_NAME = "OpenShift AI Self-Managed"
ODH_RELEASE_NAME = "Open Data Hub"

DSC_GROUP = "datasciencecluster.opendatahub.io"
DSCI_GROUP = "dscinitialization.opendatahub.io"
TRUSTYAI_COMPONENT_GROUP = "components.platform.opendatahub.io"
LMEVAL_GROUP = "trustyai.opendatahub.io"
LMEVAL_VERSION = "v1alpha1"
KSERVE_ISVC_CRD = "inferenceservices.serving.kserve.io"

OPERATOR_DEPLOYMENT = "trustyai-service-operator-controller-manager"
OPERATOR_CONTAINER = "manager"
OPERATOR_CONFIGMAP = "trustyai-service-operator-config"
DSC_CONFIGMAP = "trustyai-dsc-config"
MANAGED_ANNOTATION = "opendatahub.io/managed"
# Labels the platform operator puts on everything TrustyAI; stable across releases, unlike control-plane.
TRUSTYAI_STABLE_LABELS = {"app.opendatahub.io/trustyai": "true", "app.kubernetes.io/part-of": "trustyai"}

CM_ALLOW_ONLINE = "lmes-allow-online"
CM_ALLOW_CODE = "lmes-allow-code-execution"
DSC_CM_ONLINE = "eval.lmeval.permitOnline"
DSC_CM_CODE = "eval.lmeval.permitCodeExecution"

KSERVE_MISSING_MESSAGE = "InferenceServices CRD does not exist, please enable serving component first"
KUEUE_MANAGED_MESSAGE = "Managed is no longer supported as a managementState"

# The lmes-* keys every release's operator ConfigMap ships (values of the RHOAI overlay's params.env).
_LMES_RHOAI_DEFAULTS: dict[str, str] = {
    "lmes-pod-checking-interval": "10s",
    "lmes-image-pull-policy": "Always",
    "lmes-max-batch-size": "24",
    "lmes-default-batch-size": "8",
    "lmes-detect-device": "true",
    CM_ALLOW_ONLINE: "false",
    CM_ALLOW_CODE: "false",
}
# The ODH base params.env ships both permissions open.
_LMES_ODH_DEFAULTS = {**_LMES_RHOAI_DEFAULTS, CM_ALLOW_ONLINE: "true", CM_ALLOW_CODE: "true"}


@dataclass(frozen=True)
class Release:
    """What is true for one release line of one platform."""

    platform: Platform
    since: tuple[int, int]
    _: KW_ONLY
    # DataScienceCluster / DSCInitialization API versions served; the last one is the storage version.
    dsc_versions: tuple[str, ...]
    # How LM-Eval permissions are granted: operator ConfigMap (+restart) or DSC eval.lmeval fields.
    permission_layer: PermissionLayer
    # Does the platform operator leave a ConfigMap annotated opendatahub.io/managed=false alone?
    honours_managed_annotation: bool
    # Per-component condition on the DSC ("trustyaiReady" in the legacy controller).
    trustyai_condition: str
    # Component CR trustyais.components.platform.opendatahub.io (default-trustyai) exists.
    has_component_cr: bool
    # Reason TrustyAIReady carries when the InferenceService CRD is missing (None: no precondition).
    kserve_missing_reason: str | None
    # DSC admission denies any update while kueue is Managed (3.x webhooks).
    kueue_managed_blocks_dsc: bool
    # The TrustyAI operator reads trustyai-dsc-config for every job (no restart needed for permissions).
    permissions_read_per_job: bool
    # Pod-template and selector labels of the TrustyAI operator Deployment.
    operator_pod_labels: dict[str, str]
    enable_services: str
    lmes_defaults: dict[str, str] = field(default_factory=dict)
    # DSC spec.components.trustyai has mcpGuardrailsMode (3.4+).
    has_mcp_guardrails_mode: bool = False
    # The LMEvalJob CRD has status.progressBars (shipped after TSO v1.38, ODH stable-2.x).
    has_progress_bars: bool = True
    # DSC spec.components.kueue.managementState enum (Unmanaged from 2.25 / ODH 2.35; on 3.x Managed
    # stays in the enum for upgrades but the admission webhook refuses it: kueue_managed_blocks_dsc).
    kueue_management_states: tuple[str, ...] = ("Managed", "Removed")
    # The shipped LMEvalJob CRD restricts spec.model to an enum, so a bad model is a 422 at admission,
    # not a failed job. Every RHOAI line's CRD has it (config/crd/bases of each ../shared/upstream archive;
    # on the 2.16 branch since its Jan 2026 z-stream: an older 2.16 install lacks it and the controller's
    # ValidateModelName fails the job instead). Upstream v1.38.0, which ODH 2.22-2.34 track, has a plain
    # string. tests/unit/test_operator_sources.py pins this against the sources.
    lmevaljob_model_enum: bool = False
    # For a job with allowCodeExecution: true the controller passes lm-eval --confirm_run_unsafe_code and
    # sets HF_ALLOW_CODE_EVAL (1 when permitted): only from the 2.25 line (ODH 2.35). Before, unsafe-code
    # tasks (humaneval, mbpp: lm-eval refuses them without the flag) cannot run whatever the permissions;
    # trust_remote_code datasets still work when code execution is permitted.
    unsafe_code_flags: bool = False
    # For a job with allowOnline that the operator permits, the controller passes the driver `--allow-online`
    # besides leaving out the HF_*_OFFLINE variables. Not on the 2.16 line: its generateCmd
    # (controllers/lmes/lmevaljob_controller.go of ../shared/upstream/trustyai-service-operator/rhoai-2.16.tar.gz,
    # `func generateCmd`) never appends it and its driver (cmd/lmes_driver/main.go) has no such flag; online
    # access there is the environment alone (`// Enforce offline mode by default`). From rhoai-2.22 and
    # upstream v1.38.0 on: `cmds = append(cmds, "--allow-online")` when job and operator both allow it.
    # ODH 2.16-2.21 is not pinned by any source here and keeps the default.
    allow_online_flag: bool = True
    # The shipped LMEvalJob CRD's spec.taskList.taskRecipes[].template, .task and .metrics[] are objects
    # {name, ref} (lmevaljob_recipe_objects) and spec.chatTemplate {enabled, name} exists
    # (lmevaljob_chat_template, i.e. not in lmevaljob_absent_fields). Not on the 2.16 line: the CRD
    # config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml of
    # ../shared/upstream/trustyai-service-operator/rhoai-2.16.tar.gz (branch head d028d022, 2026-05-27) has
    # `template: {type: string}`, `task: {type: string}` and metrics items of type string (an object is a 422),
    # and no chatTemplate nor systemInstruction (pruned); its controllers/lmes has no chat-template flag either.
    # From rhoai-2.22 and upstream v1.38.0 on both are there. ODH 2.16-2.21 is not pinned by any source here
    # and keeps the default. tests/unit/test_rules_per_line.py pins both against every shipped CRD at hand.
    lmevaljob_recipe_objects: bool = True
    # LMEvalJob spec fields of the newest CRD (rules/lmevaljob_schema.json) that this line's shipped CRD does
    # not have, so its apiserver prunes them: every line's config/crd/bases/trustyai.opendatahub.io_lmevaljobs.yaml
    # (../shared/upstream archives) compared with the newest; spec.pod.* (Kubernetes API fields of the
    # controller-gen run) left out. Only what every profile of the row lacks: rhoai-3.0's CRD has no outputs.oci
    # but rhoai-3.3's, in the same row, has. tests/unit/test_rules_per_line.py pins it.
    lmevaljob_absent_fields: tuple[str, ...] = ()
    # The first version of this platform whose deploy action also removes its owner reference from an object
    # annotated opendatahub.io/managed: "false" (`resources.RemoveOwnerReferences(... ownedTypeIs(&igvk))`
    # before `continue` in pkg/controller/actions/deploy/action_deploy.go); before it the object is skipped and
    # keeps the reference. ODH-OP be9b0ccab (2025-07-18), first tagged v2.32.0 (v2.30.0 only `continue`s); the
    # rhods-operator branch rhoai-2.23 (65565ffd5c) has it, rhoai-2.22 (3f3de5e3ae) does not. Within the
    # 2.17-2.24 line, so a version, not a row: `deowns_unmanaged(version)`. None: never (the legacy path).
    deowns_unmanaged_since: tuple[int, int] | None = None

    def deowns_unmanaged(self, version: tuple[int, int] | None) -> bool:
        """Does the platform at `version` drop its owner reference from an unmanaged object? An unknown version
        counts as the line's first (the owner reference may stay: nothing may wait for it to go)."""
        first = self.deowns_unmanaged_since
        return first is not None and (version or self.since) >= first

    @property
    def lmevaljob_chat_template(self) -> bool:
        return "spec.chatTemplate" not in self.lmevaljob_absent_fields

    @property
    def key(self) -> str:
        return f"{self.platform}-{self.since[0]}.{self.since[1]}"

    @property
    def dsc_storage_version(self) -> str:
        return self.dsc_versions[-1]

    @property
    def release_name(self) -> str:
        return RHOAI_RELEASE_NAME if self.platform == "rhoai" else ODH_RELEASE_NAME

    @property
    def default_applications_namespace(self) -> str:
        return "redhat-ods-applications" if self.platform == "rhoai" else "opendatahub"

    @property
    def has_dsc_eval_fields(self) -> bool:
        return self.permission_layer == "dsc"

    @property
    def needs_restart_for_permissions(self) -> bool:
        return not self.permissions_read_per_job

    @property
    def unparsable_permission_grants(self) -> bool:
        """Does an lmes-allow-* value Go's strconv.ParseBool rejects ("yes", "on") count as true?

        Lines that read permissions once at start take them from constructOptionsFromConfigMap, which
        replaces an unparsable bool with DefaultDetectDevice (true); lines that read them per job
        (ReadEffectivePermissions) keep the default, false. See detect.lmes_permission for the citations.
        """
        return not self.permissions_read_per_job

    @property
    def ready_condition_kind(self) -> Literal["legacy", "component"]:
        return "legacy" if self.trustyai_condition == "trustyaiReady" else "component"


_OLD_LABELS = {"control-plane": "controller-manager", **TRUSTYAI_STABLE_LABELS}
_NEW_LABELS = {"control-plane": "trustyai-service-operator", **TRUSTYAI_STABLE_LABELS}


def _legacy(platform: Platform, since: tuple[int, int], services: str) -> Release:
    return Release(
        platform=platform,
        since=since,
        dsc_versions=("v1",),
        permission_layer="configmap",
        honours_managed_annotation=False,
        trustyai_condition="trustyaiReady",
        has_component_cr=False,
        kserve_missing_reason=None,
        kueue_managed_blocks_dsc=False,
        permissions_read_per_job=False,
        operator_pod_labels=_OLD_LABELS,
        enable_services=services,
        lmes_defaults=_LMES_RHOAI_DEFAULTS if platform == "rhoai" else _LMES_ODH_DEFAULTS,
        has_progress_bars=False,
    )


def _component(platform: Platform, since: tuple[int, int], **overrides: object) -> Release:
    base: dict[str, object] = {
        "platform": platform,
        "since": since,
        "dsc_versions": ("v1",),
        "permission_layer": "configmap",
        "honours_managed_annotation": True,
        "deowns_unmanaged_since": (2, 23) if platform == "rhoai" else (2, 32),
        "trustyai_condition": "TrustyAIReady",
        "has_component_cr": True,
        "kserve_missing_reason": "Error",
        "kueue_managed_blocks_dsc": False,
        "permissions_read_per_job": False,
        "operator_pod_labels": _OLD_LABELS,
        "enable_services": "TAS,LMES,GORCH",
        "lmes_defaults": _LMES_RHOAI_DEFAULTS if platform == "rhoai" else _LMES_ODH_DEFAULTS,
        "has_progress_bars": False,
    }
    base.update(overrides)
    return Release(**base)  # type: ignore[arg-type]


_DSC_EVAL = {
    "permission_layer": "dsc",
    "permissions_read_per_job": True,
    "has_progress_bars": True,
    "unsafe_code_flags": True,
    "lmevaljob_model_enum": True,
    "kueue_management_states": ("Managed", "Unmanaged", "Removed"),
}
_V3 = {**_DSC_EVAL, "dsc_versions": ("v1", "v2"), "kueue_managed_blocks_dsc": True}
_V34 = {**_V3, "has_mcp_guardrails_mode": True}
_V35 = {
    **_V34,
    "kserve_missing_reason": "PreConditionFailed",
    "operator_pod_labels": _NEW_LABELS,
    "enable_services": "TAS,LMES,GORCH,NEMO_GUARDRAILS,EVALHUB",
}

class _CrdFacts(TypedDict):
    """Release fields that follow from the shipped LMEvalJob CRD (typed: replace() checks them)."""

    lmevaljob_model_enum: bool


# Every RHOAI line ships the spec.model enum (see Release.lmevaljob_model_enum).
_RHOAI_CRD: _CrdFacts = {"lmevaljob_model_enum": True}
# Release.lmevaljob_absent_fields: the 2.16 CRD (rhoai-2.16.tar.gz) and the 2.22 / 2.25 ones (no OCI output).
_NO_OCI = ("spec.outputs.oci",)
_ABSENT_216 = ("spec.chatTemplate", "spec.offline.storage.s3", "spec.outputs.oci", "spec.systemInstruction",
               "spec.taskList.custom", "spec.taskList.customTasks", "spec.taskList.taskRecipes[].systemPrompt")

RELEASES: tuple[Release, ...] = (
    replace(_legacy("rhoai", (2, 16), "TAS,LMES"), **_RHOAI_CRD, allow_online_flag=False,
            lmevaljob_recipe_objects=False, lmevaljob_absent_fields=_ABSENT_216),
    _component("rhoai", (2, 17), **_RHOAI_CRD, lmevaljob_absent_fields=_NO_OCI),
    _component("rhoai", (2, 25), **_DSC_EVAL, lmevaljob_absent_fields=_NO_OCI),
    _component("rhoai", (3, 0), **_V3),
    _component("rhoai", (3, 4), **_V34),
    _component("rhoai", (3, 5), **_V35),
    _legacy("odh", (2, 16), "TAS,LMES"),
    _component("odh", (2, 22)),
    _component("odh", (2, 35), **_DSC_EVAL, lmevaljob_absent_fields=_NO_OCI),
    _component("odh", (3, 0), **_V3),
    _component("odh", (3, 4), **_V34),
    _component("odh", (3, 5), **_V35),
)


def line_label(key: str) -> str | None:
    """The versions a release line (its `key`, e.g. rhoai-2.17) covers, as people say them: '2.17-2.24',
    '2.16', '2.25-2.x' (the next line starts a new major), '3.5+' (the newest line). None: unknown key."""
    row = next((r for r in RELEASES if r.key == key), None)
    if row is None:
        return None
    major, minor = row.since
    later = sorted(r.since for r in RELEASES if r.platform == row.platform and r.since > row.since)
    if not later:
        return f"{major}.{minor}+"
    if later[0][0] != major:
        return f"{major}.{minor}-{major}.x"
    last = later[0][1] - 1
    return f"{major}.{minor}" if last == minor else f"{major}.{minor}-{major}.{last}"


def parse_version(text: str) -> tuple[int, int]:
    """'2.22.1' -> (2, 22); tolerant of a leading 'v' and suffixes such as '-ea.2'."""
    parts = text.strip().lstrip("v").split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a release version: {text!r}") from exc


def platform_of_release_name(name: str) -> Platform:
    return "odh" if "open data hub" in name.lower() else "rhoai"


def release_for(platform: Platform, version: tuple[int, int]) -> Release:
    """The row in force for `version`: the newest line that started at or before it."""
    rows = [r for r in RELEASES if r.platform == platform and r.since <= version]
    if not rows:
        oldest = min(r.since for r in RELEASES if r.platform == platform)
        raise ValueError(
            f"{platform} {version[0]}.{version[1]} predates LM-Eval "
            f"(first shipped in {oldest[0]}.{oldest[1]})"
        )
    return max(rows, key=lambda r: r.since)


@dataclass(frozen=True)
class Profile:
    """A concrete release the sandbox can stand up; its behaviour comes from `release`."""

    name: str
    platform: Platform
    version: str  # status.release.version

    @property
    def release(self) -> Release:
        return release_for(self.platform, parse_version(self.version))


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("rhoai-2.16", "rhoai", "2.16.2"),
        Profile("rhoai-2.22", "rhoai", "2.22.1"),
        Profile("rhoai-2.25", "rhoai", "2.25.0"),
        Profile("rhoai-3.0", "rhoai", "3.0.0"),
        Profile("rhoai-3.3", "rhoai", "3.3.0"),
        Profile("rhoai-3.5", "rhoai", "3.5.0"),
        Profile("odh-2.35", "odh", "2.35.0"),
        Profile("odh-3.5", "odh", "3.5.0"),
    )
}
