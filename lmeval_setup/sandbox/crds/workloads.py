"""The workload CRDs: LMEvalJob (trustyai-operator.md §1) and a minimal KServe InferenceService.

LMEvalJob keeps every validation the apiserver applies upstream (patterns, enums, types: `batchSize`
is a string, `modelArgs[].value` has the restricted character class, a recipe `template` is an
object), so admission errors in the sandbox read like on a cluster. Subtrees that are plain
Kubernetes core types (EnvVar, Volume, Affinity, SecurityContext, sidecar Containers) are kept as sent
instead of re-declaring the core OpenAPI schema here.
"""

from __future__ import annotations

from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION, Release
from lmeval_setup.rules.models import MODEL_TYPES
from lmeval_setup.sandbox.crds.schema import (
    Schema,
    array,
    boolean,
    crd,
    free_form,
    integer,
    obj,
    string,
    version,
)

NAME_PATTERN = "^[a-zA-Z0-9._-]+$"
ARG_VALUE_PATTERN = r"^[a-zA-Z0-9._/:\- ]*$"
PATH_PATTERN = "^[a-zA-Z0-9._/-]*$"
JOB_STATES = ("New", "Scheduled", "Running", "Complete", "Cancelled", "Suspended")
JOB_REASONS = ("NoReason", "Succeeded", "Failed", "Cancelled")


def _arg() -> Schema:
    return obj({"name": string(pattern=NAME_PATTERN), "value": string(pattern=ARG_VALUE_PATTERN)}, required=["name"])


def _secret_key() -> Schema:
    return obj(
        {"key": string(), "name": string(default=""), "optional": boolean()},
        required=["key"], map_type="atomic",
    )


def _name_ref() -> Schema:
    return obj({"name": string(), "ref": string()})


def _task_list() -> Schema:
    named_value = obj({"name": string(), "value": string()}, required=["name", "value"])
    recipe = obj(
        {
            "card": obj({"custom": string(), "name": string(pattern=NAME_PATTERN)}),
            "demosPoolSize": integer(),
            "format": string(),
            "loaderLimit": integer(),
            "metrics": array(_name_ref()),
            "numDemos": integer(),
            "systemPrompt": _name_ref(),
            "task": _name_ref(),
            "template": _name_ref(),  # an object since TSO v1.33.0; the legacy string form is rejected
        },
        required=["card"],
    )
    git = obj({
        "branch": string(),
        "commit": string(),
        "path": string(pattern=PATH_PATTERN),
        "url": string(pattern="^https://[a-zA-Z0-9._/-]+$"),
    })
    return obj({
        "custom": obj({k: array(named_value) for k in ("metrics", "systemPrompts", "tasks", "templates")}),
        "customTasks": obj({"source": obj({"git": git})}),
        "taskNames": array(string(pattern=NAME_PATTERN)),
        "taskRecipes": array(recipe),
    })


def _outputs() -> Schema:
    oci = obj(
        {
            "dockerConfigJson": _secret_key(),
            "password": _secret_key(),
            "registry": _secret_key(),
            "repository": string(pattern=PATH_PATTERN),
            "subject": string(pattern="^[a-zA-Z0-9._:/@-]*$", max_length=255),
            "tag": string(pattern="^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", max_length=128),
            "username": _secret_key(),
            "verifySSL": boolean(),
        },
        required=["registry", "repository"],
    )
    return obj({"oci": oci, "pvcManaged": obj({"size": string()}), "pvcName": string()})


def _offline() -> Schema:
    s3 = obj(
        {
            "accessKeyId": _secret_key(),
            "bucket": _secret_key(),
            "caBundle": _secret_key(),
            "endpoint": _secret_key(),
            "path": string(pattern=PATH_PATTERN),
            "region": _secret_key(),
            "secretAccessKey": _secret_key(),
            "verifySSL": boolean(),
        },
        required=["accessKeyId", "bucket", "endpoint", "path", "region", "secretAccessKey"],
    )
    return obj({"storage": obj({"pvcName": string(), "s3": s3})}, required=["storage"])


def _pod() -> Schema:
    container = obj({
        "env": array(free_form()),
        "resources": free_form(),
        "securityContext": free_form(),
        "volumeMounts": array(free_form()),
    })
    return obj({
        "affinity": free_form(),
        "container": container,
        "securityContext": free_form(),
        "sideCars": array(free_form()),
        "volumes": array(free_form()),
    })


def lmevaljob_spec(release: Release) -> Schema:
    model = string(enum=MODEL_TYPES) if release.lmevaljob_model_enum else string()
    return obj(
        {
            "allowCodeExecution": boolean(default=False),
            "allowOnline": boolean(default=False),
            "batchSize": string(),
            "chatTemplate": obj({"enabled": boolean(), "name": string()}, required=["enabled"]),
            "genArgs": array(_arg()),
            "limit": string(pattern=r"^(\d+\.?\d*|\d*\.\d+)$"),
            "logSamples": boolean(),
            "model": model,
            "modelArgs": array(_arg()),
            "numFewShot": integer(),
            "offline": _offline(),
            "outputs": _outputs(),
            "pod": _pod(),
            "suspend": boolean(),
            "systemInstruction": string(),
            "taskList": _task_list(),
        },
        required=["model", "taskList"],
    )


def lmevaljob_status(release: Release) -> Schema:
    props: dict[str, Schema] = {
        "completeTime": string(fmt="date-time"),
        "lastScheduleTime": string(fmt="date-time"),
        "message": string(),
        "podName": string(),
        "reason": string(enum=JOB_REASONS),
        "results": string(),
        "state": string(enum=JOB_STATES),
    }
    if release.has_progress_bars:
        bar_fields = ("count", "elapsedTime", "message", "percent", "remainingTimeEstimate")
        props["progressBars"] = array(obj({k: string() for k in bar_fields}, required=list(bar_fields)))
    return obj(props)


def lmevaljob_crd(release: Release) -> Schema:
    root = obj({
        "apiVersion": string(), "kind": string(), "metadata": obj(),
        "spec": lmevaljob_spec(release), "status": lmevaljob_status(release),
    })
    columns = [{"jsonPath": ".status.state", "name": "State", "type": "string"}]
    return crd(LMEVAL_GROUP, "LMEvalJob", "lmevaljobs", "Namespaced",
               [version(LMEVAL_VERSION, root, storage=True, columns=columns)])


def inferenceservice_crd() -> Schema:
    """serving.kserve.io/v1beta1 InferenceService: only its existence matters to TrustyAI (the precondition)."""
    root = obj({
        "apiVersion": string(), "kind": string(), "metadata": obj(),
        "spec": free_form(), "status": free_form(),
    })
    return crd("serving.kserve.io", "InferenceService", "inferenceservices", "Namespaced",
               [version("v1beta1", root, storage=True)], short_names=["isvc"])
