"""Build the objects a CI evaluation needs: Namespace, ServiceAccount, Role, RoleBinding, LMEvalJob.

This module is the one source of truth for those definitions: `lmeval-setup provision` applies them,
`lmeval-setup provision --render` prints them for `playbooks/provision-ci.yml`, and the tests check
them. Pure functions only (no cluster access), so rendering needs no kubeconfig.

The LMEvalJob carries the seed's proven settings for a vLLM (OpenAI-compatible) endpoint:
local-completions, the full `/v1/completions` base_url, a Hugging Face tokenizer id, and client tuning
(num_concurrent, max_retries, timeout). An API key is only ever referenced through a Secret.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lmeval_setup.errors import UsageError
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION

JSON = dict[str, Any]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "lmeval-setup"
# Which provision run (namespace/job) an object belongs to: teardown selects by it.
INSTANCE_LABEL = "lmeval-setup.io/provision"
# Set only on a namespace provision created; teardown never deletes a namespace without it.
CREATED_ANNOTATION = "lmeval-setup.io/created-by"
CREATED_BY_PROVISION = "provision"
# A hash of the job's desired spec: a different hash means the job must be replaced.
SPEC_HASH_ANNOTATION = "lmeval-setup.io/spec-hash"
API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_JOB_NAME = "lmeval-ci"
RUNNER_SUFFIX = "-runner"

# Seed defaults: retries and a generous timeout make remote evaluation survive transient errors.
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT_S = 300
DEFAULT_NUM_CONCURRENT = 1
DEFAULT_MODEL_TYPE = "local-completions"


@dataclass(kw_only=True)  # many fields of one type: callers name each
class ProvisionSpec:
    """What the user asked for. `base_job` (from --from-file) is the starting point when given."""

    namespace: str
    job_name: str = DEFAULT_JOB_NAME
    model_type: str | None = None  # None: the file's model, else local-completions
    base_url: str | None = None
    tokenizer: str | None = None
    served_model: str | None = None
    tasks: list[str] = field(default_factory=list)
    limit: str | None = None
    num_concurrent: int | None = None
    max_retries: int | None = None
    request_timeout: int | None = None
    api_key_secret: str | None = None
    api_key_secret_key: str = "token"
    allow_online: bool = False
    allow_code_execution: bool = False
    base_job: JSON | None = None


def instance_value(spec: ProvisionSpec) -> str:
    """Label values are limited to 63 characters of [A-Za-z0-9._-]; the job name alone fits and is unique."""
    return spec.job_name[:63]


def runner_name(spec: ProvisionSpec) -> str:
    """One ServiceAccount/Role/RoleBinding per job, so two jobs in a namespace never share (or delete) them."""
    return spec.job_name[: 63 - len(RUNNER_SUFFIX)] + RUNNER_SUFFIX


def common_labels(spec: ProvisionSpec) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, INSTANCE_LABEL: instance_value(spec)}


# -- the objects ---------------------------------------------------------------------------------------
def namespace_object(spec: ProvisionSpec) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {CREATED_ANNOTATION: CREATED_BY_PROVISION},
        },
    }


def service_account_object(spec: ProvisionSpec) -> JSON:
    """The identity a CI pipeline uses to run and read this job (the evaluation pod uses `default`)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": runner_name(spec), "namespace": spec.namespace, "labels": common_labels(spec)},
    }


def role_object(spec: ProvisionSpec) -> JSON:
    """Least privilege for the pipeline: LMEvalJobs in this namespace, and reading their pods and logs."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": runner_name(spec), "namespace": spec.namespace, "labels": common_labels(spec)},
        "rules": [
            {"apiGroups": [LMEVAL_GROUP], "resources": ["lmevaljobs"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": [LMEVAL_GROUP], "resources": ["lmevaljobs/status"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list", "watch"]},
        ],
    }


def role_binding_object(spec: ProvisionSpec) -> JSON:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": runner_name(spec), "namespace": spec.namespace, "labels": common_labels(spec)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": runner_name(spec)},
        "subjects": [{"kind": "ServiceAccount", "name": runner_name(spec), "namespace": spec.namespace}],
    }


def lmevaljob_object(spec: ProvisionSpec) -> JSON:
    """The LMEvalJob provision applies: the definition plus our labels and the spec hash."""
    job = job_definition(spec)
    meta = job["metadata"]
    meta.setdefault("labels", {}).update(common_labels(spec))
    meta.setdefault("annotations", {})[SPEC_HASH_ANNOTATION] = spec_hash(job)
    return job


def job_definition(spec: ProvisionSpec) -> JSON:
    """The LMEvalJob itself (shared with scaffold): the file's job, if any, with the flags on top."""
    job = _starting_job(spec)
    body = job.setdefault("spec", {})
    body["model"] = spec.model_type or body.get("model") or DEFAULT_MODEL_TYPE
    _apply_model_args(body, spec)
    if spec.tasks:
        body.setdefault("taskList", {})["taskNames"] = list(spec.tasks)
    if spec.limit is not None:
        body["limit"] = str(spec.limit)
    body["allowOnline"] = bool(spec.allow_online)
    body["allowCodeExecution"] = bool(spec.allow_code_execution)
    if spec.api_key_secret:
        _reference_api_key(body, spec.api_key_secret, spec.api_key_secret_key)
    _require_job_basics(body)
    meta = job.setdefault("metadata", {})
    meta["name"] = spec.job_name
    if spec.namespace:
        meta["namespace"] = spec.namespace
    return job


def build_objects(spec: ProvisionSpec) -> list[JSON]:
    """Everything provision applies, in apply order (teardown goes in reverse)."""
    return [
        namespace_object(spec),
        service_account_object(spec),
        role_object(spec),
        role_binding_object(spec),
        lmevaljob_object(spec),
    ]


def spec_hash(job: JSON) -> str:
    """Hash of what decides the evaluation (spec, labels): equal hashes mean nothing to replace."""
    labels = {k: v for k, v in (job.get("metadata", {}).get("labels") or {}).items()}
    payload = json.dumps({"spec": job.get("spec", {}), "labels": labels}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# -- helpers --------------------------------------------------------------------------------------------
def _starting_job(spec: ProvisionSpec) -> JSON:
    if spec.base_job is None:
        return {"apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}", "kind": "LMEvalJob", "metadata": {}, "spec": {}}
    job = copy.deepcopy(spec.base_job)
    if job.get("kind") != "LMEvalJob":
        raise UsageError(f"--from-file: expected an LMEvalJob, got kind {job.get('kind')!r}")
    # Server-managed and previous-run fields must not be re-applied.
    job.pop("status", None)
    meta = job.get("metadata") or {}
    job["metadata"] = {k: v for k, v in meta.items() if k in ("labels", "annotations")}
    return job


def _apply_model_args(body: JSON, spec: ProvisionSpec) -> None:
    """Set or replace model args by name, keeping any others the file had (order preserved)."""
    wanted: dict[str, str] = {}
    if spec.served_model:
        wanted["model"] = spec.served_model
    if spec.base_url:
        wanted["base_url"] = spec.base_url
    if spec.tokenizer:
        wanted["tokenizer"] = spec.tokenizer
    existing = {a.get("name"): a for a in body.get("modelArgs") or []}
    from_file = spec.base_job is not None
    tuning = {
        "num_concurrent": spec.num_concurrent, "max_retries": spec.max_retries, "timeout": spec.request_timeout,
    }
    defaults = {"num_concurrent": DEFAULT_NUM_CONCURRENT, "max_retries": DEFAULT_MAX_RETRIES,
                "timeout": DEFAULT_TIMEOUT_S}
    for name, value in tuning.items():
        if value is not None:
            wanted[name] = str(value)
        elif not (from_file and name in existing):
            wanted[name] = str(defaults[name])
    args = [dict(a) for a in body.get("modelArgs") or []]
    for name, text in wanted.items():
        for arg in args:
            if arg.get("name") == name:
                arg["value"] = text
                break
        else:
            args.append({"name": name, "value": text})
    body["modelArgs"] = args


def _reference_api_key(body: JSON, secret: str, key: str) -> None:
    """OPENAI_API_KEY from a Secret; replaces any inline value so a key never lands in the CR."""
    container = body.setdefault("pod", {}).setdefault("container", {})
    env = [e for e in container.get("env") or [] if e.get("name") != API_KEY_ENV]
    env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    container["env"] = env


def _require_job_basics(body: JSON) -> None:
    if not body.get("model"):
        raise UsageError("no model type", hint="pass --model-type local-completions")
    if not (body.get("taskList") or {}).get("taskNames") and not (body.get("taskList") or {}).get("taskRecipes"):
        raise UsageError("no tasks to evaluate", hint="pass --tasks arc_easy,hellaswag")
    names = {a.get("name") for a in body.get("modelArgs") or []}
    if "base_url" not in names and body.get("model", "").startswith("local-"):
        raise UsageError("no endpoint for a local model type", hint="pass --base-url http://HOST:PORT/v1/completions")
