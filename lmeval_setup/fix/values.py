"""Values a fix fills in, inferred per job, each with where it came from.

Pure: the cluster facts arrive in a FixContext (the doctor builds it from its Snapshot; lint from the
manifests alone, where fewer values can be inferred). A value that cannot be inferred safely is None and
the fix becomes manual; nothing is guessed without saying from what.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lmeval_setup.rules.models import ENDPOINT_PATH
from lmeval_setup.rules.spec import HUB_REPO_ID, Job

JSON = dict[str, Any]
# Endpoint suffixes a base_url may end in; the longest match is replaced by the model type's path.
_KNOWN_SUFFIXES = ("/v1/chat/completions", "/v1/completions", "/chat/completions", "/completions", "/v1")
# Red Hat's modelcar catalog tags images with the Hugging Face repo name; the org is the model family's
# publisher. Used only when no job in the namespace already names the repo (see tokenizer()).
MODELCAR_PUBLISHERS: tuple[tuple[str, str], ...] = (
    ("granite-", "ibm-granite"), ("llama-", "meta-llama"), ("meta-llama-", "meta-llama"),
    ("mistral-", "mistralai"), ("mixtral-", "mistralai"), ("qwen", "Qwen"),
)
_MODELCAR_TAG = re.compile(r"^oci://[^\s]*?modelcar[^\s:]*:(?P<tag>[A-Za-z0-9][A-Za-z0-9._-]*)$")


@dataclass(frozen=True)
class Inferred:
    value: Any
    source: str  # where the value came from, shown next to it


@dataclass
class FixContext:
    """What the fix engine may know about the cluster around a job."""

    inference_services: list[JSON] = field(default_factory=list)  # in the job's namespace
    sibling_jobs: list[JSON] = field(default_factory=list)  # other LMEvalJobs in the namespace
    _: KW_ONLY
    online_permitted: bool | None = None  # None: unknown (lint, or the cluster layer was unreadable)
    code_execution_permitted: bool | None = None
    # The served model's /v1/models answer for an InferenceService (or None); live runs only.
    models_endpoint: Callable[[JSON], JSON | None] | None = None
    # The cluster's release line (a platform.releases.Release), when known: its LMEvalJob CRD decides which
    # fields a fix may set (rules.catalog.autofix_for) and what the spec rules report (spec_findings).
    release: Any = None


def base_url(job: Job, ctx: FixContext) -> Inferred | None:
    """The endpoint the model type calls, on the host the job already names (else its InferenceService).

    The engine asks with the fix's model type already set (LME003/LME005 change it first)."""
    model = job.model
    expected = ENDPOINT_PATH.get(model)
    if expected is None:
        return None
    current = job.arg_str("base_url")
    if current:
        parts = urlsplit(current)
        path = parts.path.rstrip("/")
        for suffix in _KNOWN_SUFFIXES:
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
        fixed = urlunsplit((parts.scheme, parts.netloc, path + expected, parts.query, parts.fragment))
        return Inferred(fixed, f"{model} posts to {expected} (lm-eval model type); host kept from base_url")
    isvc = matching_isvc(job, ctx)
    url = str(((isvc or {}).get("status") or {}).get("url") or "")
    if url:
        name = isvc["metadata"]["name"]  # type: ignore[index]
        return Inferred(url.rstrip("/") + expected, f"InferenceService {name} status.url + {expected} ({model})")
    return None


def matching_isvc(job: Job, ctx: FixContext) -> JSON | None:
    """The InferenceService the job evaluates: by base_url host, else by the served-model name, else the only one."""
    host = urlsplit(job.arg_str("base_url") or "").hostname or ""
    served = job.arg_str("model") or ""
    by_host = [i for i in ctx.inference_services if host and _isvc_host_matches(i, host)]
    if len(by_host) == 1:
        return by_host[0]
    by_name = [i for i in ctx.inference_services if i.get("metadata", {}).get("name") == served]
    if len(by_name) == 1:
        return by_name[0]
    return ctx.inference_services[0] if len(ctx.inference_services) == 1 else None


def _isvc_host_matches(isvc: JSON, host: str) -> bool:
    name = isvc.get("metadata", {}).get("name", "")
    url_host = urlsplit(str((isvc.get("status") or {}).get("url") or "")).hostname or ""
    first = host.split(".")[0]
    return host == url_host or first in (name, f"{name}-predictor")


def tokenizer(job: Job, ctx: FixContext) -> Inferred | None:
    """The Hugging Face repo id of the served model, from the InferenceService (or the jobs next to it)."""
    isvc = matching_isvc(job, ctx)
    if isvc is None:
        return _from_sibling_on_same_endpoint(job, ctx)
    name = isvc["metadata"]["name"]
    uri = str((((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("storageUri") or "")
    where = f"InferenceService {name} spec.predictor.model.storageUri"
    if uri.startswith("hf://"):
        repo = uri[len("hf://"):].strip("/").split(":")[0]
        if HUB_REPO_ID.match(repo):
            return Inferred(repo, f"{where} {uri}")
    from_models = _from_models_endpoint(isvc, ctx)
    if from_models is not None:
        return from_models
    tag_match = _MODELCAR_TAG.match(uri)
    if tag_match:
        return _from_modelcar_tag(tag_match.group("tag"), f"{where} {uri}", job, ctx)
    return None


def _from_sibling_on_same_endpoint(job: Job, ctx: FixContext) -> Inferred | None:
    """Without an InferenceService: a job that evaluates the same served model on the same host names its repo."""
    host = urlsplit(job.arg_str("base_url") or "").netloc
    served = job.arg_str("model")
    if not host or not served:
        return None
    found = set()
    for other in ctx.sibling_jobs:
        other_job = Job(other, job.target)
        value = other_job.arg_str("tokenizer") or ""
        if (HUB_REPO_ID.match(value) and other_job.arg_str("model") == served
                and urlsplit(other_job.arg_str("base_url") or "").netloc == host):
            found.add((value, other.get("metadata", {}).get("name", "")))
    if len({value for value, _ in found}) != 1:
        return None  # none, or jobs that disagree: not safe to pick one
    value, other_name = sorted(found)[0]
    return Inferred(value, f"job {other_name}, which evaluates the served model {served} on {host}")


def _from_models_endpoint(isvc: JSON, ctx: FixContext) -> Inferred | None:
    if ctx.models_endpoint is None:
        return None
    answer = ctx.models_endpoint(isvc) or {}
    for entry in answer.get("data") or []:
        root = str(entry.get("root") or "")
        if HUB_REPO_ID.match(root):
            return Inferred(root, f"InferenceService {isvc['metadata']['name']} /v1/models root")
    return None


def _from_modelcar_tag(tag: str, where: str, job: Job, ctx: FixContext) -> Inferred | None:
    """A modelcar image tag is the repo name without its org: take the org from a job that names the
    same repo, else from the model family's publisher."""
    for other in ctx.sibling_jobs:
        other_job = Job(other, job.target)
        value = other_job.arg_str("tokenizer") or ""
        if HUB_REPO_ID.match(value) and value.split("/", 1)[1].lower() == tag.lower():
            other_name = other.get("metadata", {}).get("name", "")
            return Inferred(value, f"{where} (modelcar tag {tag}); org from job {other_name}'s tokenizer")
    for prefix, org in MODELCAR_PUBLISHERS:
        if tag.lower().startswith(prefix):
            return Inferred(f"{org}/{tag}", f"{where} (modelcar tag {tag}; {org} publishes {prefix}* models)")
    return None


def task_recipes(job: Job, ctx: FixContext) -> Inferred | None:
    """taskRecipes with every string template written as the object {name: ...} (LME016)."""
    recipes = job.task_recipes()
    fixed = [
        {**r, "template": {"name": r["template"]}} if isinstance(r, dict) and isinstance(r.get("template"), str) else r
        for r in recipes
    ]
    if fixed == recipes:
        return None
    return Inferred(fixed, "the string template, as the object form since TrustyAI operator v1.33")


FILLS: dict[str, Callable[[Job, FixContext], Inferred | None]] = {
    "base_url": base_url,
    "tokenizer": tokenizer,
    "task_recipes": task_recipes,
}
