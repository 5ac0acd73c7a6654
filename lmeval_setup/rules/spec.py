"""Spec detectors: small pure functions over an LMEvalJob (a plain dict) that yield Findings.

Used by lint (on files, then mapped to line/column through the evidence path) and by the doctor (on
the cluster's jobs). Evidence paths are dotted/indexed from the document root, exactly like
`spec.modelArgs[2].value`. Secret values never reach Evidence: they are redacted here.

Layers:
- the CRD schema (what the API server rejects): types, enums, patterns, required, unknown fields;
- the controller's ValidateUserInput (what the CRD accepts but the job then fails on);
- the seed's root causes visible in a spec (base_url path, chat + loglikelihood, tokenizer, ...);
- with Permissions: online / code execution requested but not permitted (LME102/LME103).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

# What the cluster grants jobs: the one type detect() computes (DSC config over operator ConfigMap).
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.platform.releases import Release
from lmeval_setup.redact import REDACTED, is_secret_name, is_secret_value
from lmeval_setup.rules import schema as S
from lmeval_setup.rules.catalog import Severity
from lmeval_setup.rules.finding import Evidence, Finding, Target
from lmeval_setup.rules.models import CHAT_MODELS, ENDPOINT_PATH, HF_HOME, LOCAL_MODELS
from lmeval_setup.rules.tasks import needs_code_execution, needs_loglikelihood

KIND = "LMEvalJob"
API_GROUP = "trustyai.opendatahub.io"

# base_url is checked for the local model types only: the openai-* ones have their own rule (LME005).
ENDPOINT_FOR_MODEL = {m: p for m, p in ENDPOINT_PATH.items() if m in LOCAL_MODELS}
CLIENT_TUNING_ARGS = ("num_concurrent", "max_retries", "timeout")

# controllers/lmes/validation.go: values must be non-empty and free of shell metacharacters.
CONTROLLER_ARG_VALUE = re.compile(r"^[a-zA-Z0-9._/:\- ]+$")
SHELL_METACHARACTERS = re.compile(r"[;&|$`<>(){}\[\]\\\"'*?!~#\n\r]")
BATCH_SIZE = re.compile(r"^(auto(:[1-9][0-9]*)?|[1-9][0-9]*)$")
LIMIT = re.compile(r"^(\d+\.?\d*|\d*\.\d+)$")
GIT_COMMIT = re.compile(r"^[0-9a-fA-F]{7,40}$")
PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[A-Za-z][A-Za-z0-9 _-]*>")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Canonical Hub ids from before namespaces existed: valid without a '/'.
LEGACY_HUB_IDS = frozenset({
    "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2", "t5-small", "t5-base", "t5-large",
    "t5-3b", "t5-11b", "bert-base-uncased", "bert-base-cased", "bert-large-uncased", "roberta-base",
    "roberta-large", "xlnet-base-cased", "facebook/opt-125m", "openai-gpt", "ctrl", "bigscience/bloom",
})
FALSE_VALUES = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Arg:
    index: int
    name: str
    _: KW_ONLY
    value: Any
    path: str  # path of the value ("spec.modelArgs[2].value"), or of the entry when value is absent


@dataclass
class Job:
    """Convenient, total accessors over an arbitrary (possibly malformed) LMEvalJob dict."""

    doc: dict[str, Any]
    target: Target
    _: KW_ONLY
    # The release line the job is for, when known (doctor, lint --cluster): its shipped CRD decides what
    # a field may look like (RHOAI 2.16: string templates, no chatTemplate). None: the newest CRD's view.
    release: Release | None = None
    spec: dict[str, Any] = field(init=False)
    # Every detector asks for the args; parse each list once per job (the doctor checks thousands).
    _args: dict[str, tuple[Arg, ...]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        spec = self.doc.get("spec")
        self.spec = spec if isinstance(spec, dict) else {}

    @property
    def model(self) -> str:
        model = self.spec.get("model")
        return model if isinstance(model, str) else ""

    def args(self, key: str = "modelArgs") -> tuple[Arg, ...]:
        if key not in self._args:
            self._args[key] = tuple(self._parse_args(key))
        return self._args[key]

    def _parse_args(self, key: str) -> Iterator[Arg]:
        items = self.spec.get(key)
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                has_value = "value" in item
                path = f"spec.{key}[{i}]" + (".value" if has_value else "")
                yield Arg(i, item["name"], value=item.get("value"), path=path)

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args() if a.name == name), None)

    def arg_str(self, name: str) -> str | None:
        found = self.arg(name)
        return None if found is None or found.value is None else str(found.value)

    def task_names(self) -> list[tuple[int, str]]:
        names = _dig(self.spec, "taskList", "taskNames")
        if not isinstance(names, list):
            return []
        return [(i, n) for i, n in enumerate(names) if isinstance(n, str)]

    def task_recipes(self) -> list[Any]:
        recipes = _dig(self.spec, "taskList", "taskRecipes")
        return recipes if isinstance(recipes, list) else []

    def flag(self, name: str) -> bool:
        return self.spec.get(name) is True

    def has_offline_storage(self) -> bool:
        storage = _dig(self.spec, "offline", "storage")
        # offline.storage.s3 only where the line's CRD has it (RHOAI 2.16 prunes it: the pod gets nothing)
        s3 = self.release is None or "spec.offline.storage.s3" not in self.release.lmevaljob_absent_fields
        return isinstance(storage, dict) and bool(storage.get("pvcName") or (s3 and storage.get("s3")))

    def mounts_hf_home(self) -> bool:
        """A user volume mounted at HF_HOME may provide the assets: then we cannot be certain."""
        mounts = _dig(self.spec, "pod", "container", "volumeMounts")
        return isinstance(mounts, list) and any(
            isinstance(m, dict) and str(m.get("mountPath", "")).rstrip("/").startswith(HF_HOME) for m in mounts
        )

    def finding(
        self, rule_id: str, message: str, path: str, text: str, severity: Severity | None = None
    ) -> Finding:
        return Finding(rule_id, self.target, message=message, evidence=(Evidence("spec", text, path=path),),
                       severity_override=severity)


def mapping_or_empty(value: Any) -> dict[str, Any]:
    """`value` when a YAML document made it a mapping, else {} (a user's file can hold anything)."""
    return value if isinstance(value, dict) else {}


def list_or_empty(value: Any) -> list[Any]:
    """`value` when a YAML document made it a list, else []."""
    return value if isinstance(value, list) else []


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def target_for(doc: dict[str, Any]) -> Target:
    meta = mapping_or_empty(doc.get("metadata"))
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    return Target(kind=KIND, name=name or str(meta.get("generateName") or ""), namespace=namespace)


def is_lmevaljob(doc: Any) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        return False
    api_version = doc.get("apiVersion")
    return not isinstance(api_version, str) or api_version.split("/")[0] == API_GROUP


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- layer 1: the CRD schema ----------------------------------------------------------------------
_TEMPLATE_PATH = re.compile(r"^spec\.taskList\.taskRecipes\[\d+\]\.template$")
# The recipe references that RHOAI 2.16's CRD has as strings and later CRDs as objects {name, ref}.
_RECIPE_REF_PATH = re.compile(r"^spec\.taskList\.taskRecipes\[\d+\]\.(template|task|metrics\[\d+\])$")
_SCALAR_ARG_PATH = re.compile(r"^spec\.(modelArgs|genArgs)\[\d+\]\.value$")


def schema_rules(job: Job) -> Iterator[Finding]:
    string_refs = job.release is not None and not job.release.lmevaljob_recipe_objects
    absent = tuple(p for f in (job.release.lmevaljob_absent_fields if job.release else ())
                   for p in _paths_present(job.doc, f.split(".")))
    for issue in S.validate(job.doc):
        if string_refs and _is_string_recipe_ref(issue):
            continue  # what this line's CRD requires
        if any(issue.path == p or issue.path.startswith((p + ".", p + "[")) for p in absent):
            continue  # inside a field this line prunes: LME017 says so once
        yield from _schema_issue_finding(job, issue)
    if job.release is not None and string_refs:
        yield from _object_recipe_refs(job, job.release)
    if job.release is not None:
        yield from _absent_on_line(job, job.release)


def _absent_on_line(job: Job, release: Release) -> Iterator[Finding]:
    """LME017 for a field the newest CRD has but this line's does not (Release.lmevaljob_absent_fields)."""
    for field_path in release.lmevaljob_absent_fields:
        for path in _paths_present(job.doc, field_path.split(".")):
            yield job.finding(
                "LME017", f"{path} is not a field of the LMEvalJob on {release.key}: its API server prunes it, "
                "so the setting has no effect there", path, path,
            )


def _paths_present(node: Any, parts: list[str], prefix: str = "") -> Iterator[str]:
    """Concrete paths of `parts` ("taskRecipes[]" walks every item) present in `node`."""
    if not parts:
        yield prefix
        return
    key, each = parts[0].removesuffix("[]"), parts[0].endswith("[]")
    if not isinstance(node, dict) or key not in node:
        return
    here = S.join(prefix, key)
    if not each:
        yield from _paths_present(node[key], parts[1:], here)
    elif isinstance(node[key], list):
        for i, item in enumerate(node[key]):
            yield from _paths_present(item, parts[1:], S.join(here, i))


def _is_string_recipe_ref(issue: S.SchemaIssue) -> bool:
    return issue.kind == "type" and bool(_RECIPE_REF_PATH.match(issue.path)) and isinstance(issue.value, str)


def _object_recipe_refs(job: Job, release: Release) -> Iterator[Finding]:
    """On a line whose CRD has the recipe references as strings (RHOAI 2.16) the object form is a 422."""
    for i, recipe in enumerate(job.task_recipes()):
        if not isinstance(recipe, dict):
            continue
        metrics = list_or_empty(recipe.get("metrics"))
        refs = [("template", recipe.get("template")), ("task", recipe.get("task"))]
        refs += [(f"metrics[{j}]", metric) for j, metric in enumerate(metrics)]
        for where, ref in refs:
            if isinstance(ref, dict):
                name = ref.get("name")
                write = f" (write {where.split('[')[0]}: {name!r})" if isinstance(name, str) else ""
                yield job.finding(
                    "LME015",
                    f"on {release.key} taskRecipes[].{where.split('[')[0]} is a string: its LMEvalJob CRD refuses "
                    f"the object form (422){write}",
                    f"spec.taskList.taskRecipes[{i}].{where}", _short(ref),
                )


def _schema_issue_finding(job: Job, issue: S.SchemaIssue) -> Iterator[Finding]:
    value_text = _short(issue.value) if issue.value is not None else ""
    if issue.kind == "unknown":
        yield job.finding("LME017", _unknown_field_message(issue.path), issue.path, issue.path)
    elif issue.kind == "type" and _TEMPLATE_PATH.match(issue.path) and isinstance(issue.value, str):
        yield job.finding(
            "LME016",
            "taskRecipes[].template is a string; since TrustyAI operator v1.33 it is an object "
            f"{{name: ...}} (write template: {{name: {issue.value!r}}}; only RHOAI 2.16 requires the string)",
            issue.path, value_text,
        )
    elif issue.kind == "type":
        hint = ""
        if issue.expected == "string" and isinstance(issue.value, bool | int | float):
            hint = f" (quote it: '{_yaml_scalar(issue.value)}')"
        yield job.finding("LME015", f"{issue.path} {issue.message}{hint}", issue.path, value_text)
    elif issue.kind == "pattern" and _was_redacted(issue.value):
        # A collector replaced a credential here (LME018 says so): judge what is left, not the placeholder.
        rest = issue.value.replace(REDACTED, "x")
        if not re.fullmatch(issue.expected, rest):
            issue = dataclasses.replace(issue, value=rest)
            yield job.finding("LME015", _pattern_message(issue), issue.path, _redacted_if_secret(job, issue))
    elif issue.kind == "pattern":
        yield job.finding("LME015", _pattern_message(issue), issue.path, _redacted_if_secret(job, issue))
    elif issue.kind == "enum":
        yield job.finding(
            "LME015", f"{issue.path}: unsupported value {issue.value!r}; supported: {issue.expected}",
            issue.path, value_text,
        )
    elif issue.kind == "required":
        parent = issue.path.rsplit(".", 1)[0] if "." in issue.path else issue.path
        yield job.finding("LME015", f"required field {issue.path} is missing", parent, issue.path)
    else:
        yield job.finding("LME015", f"{issue.path}: {issue.message}", issue.path, value_text)


def _yaml_scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pattern_message(issue: S.SchemaIssue) -> str:
    value = issue.value if isinstance(issue.value, str) else ""
    placeholder = PLACEHOLDER.search(value)
    if placeholder:
        return (
            f"{issue.path} contains the placeholder {placeholder.group(0)!r}: replace it with the real value "
            f"(the CRD only allows {issue.expected})"
        )
    bad = sorted({c for c in value if not re.match(r"[a-zA-Z0-9._/:\- ]", c)})
    chars = " ".join(repr(c) for c in bad[:8])
    return f"{issue.path} has characters the CRD rejects ({chars}); allowed: {issue.expected}"


def _unknown_field_message(path: str) -> str:
    name = path.rsplit(".", 1)[-1]
    known = S.known_paths().get(name, ())
    if name == "env" and "spec.pod.container.env" in known:
        return f"{path} is not an LMEvalJob field and is dropped; environment variables go under spec.pod.container.env"
    if known:
        where = ", ".join(k.replace("[]", "[i]") for k in known[:3])
        return f"{path} is not a field here and is dropped by the API server; did you mean {where}?"
    return f"{path} is not an LMEvalJob field; the API server drops it silently (or rejects it)"


def _was_redacted(value: Any) -> bool:
    """A value read back from a --collect directory, where credentials are written as <redacted>."""
    return isinstance(value, str) and REDACTED in value


def _redacted_if_secret(job: Job, issue: S.SchemaIssue) -> str:
    if _SCALAR_ARG_PATH.match(issue.path):
        name = _arg_name_at(job, issue.path)
        if name and (is_secret_name(name) or is_secret_value(str(issue.value))):
            return f"{name}={REDACTED}"
    return _short(issue.value) if issue.value is not None else ""


def _arg_name_at(job: Job, path: str) -> str | None:
    m = re.match(r"^spec\.(modelArgs|genArgs)\[(\d+)\]", path)
    if not m:
        return None
    items = job.spec.get(m.group(1))
    try:
        name = items[int(m.group(2))].get("name")  # type: ignore[index]
    except (TypeError, IndexError, AttributeError):
        return None
    return name if isinstance(name, str) else None


# -- layer 2: what the CRD accepts but the controller rejects -------------------------------------
def controller_rules(job: Job) -> Iterator[Finding]:
    yield from _arg_values(job, "modelArgs")
    yield from _arg_values(job, "genArgs")
    yield from _batch_size(job)
    yield from _limit(job)
    yield from _git_source(job)
    yield from _tasks_present(job)


def _arg_values(job: Job, key: str) -> Iterator[Finding]:
    for arg in job.args(key):
        value = arg.value
        if value is None or value == "":
            yield job.finding(
                "LME015",
                f"{key} {arg.name!r} has an empty value: the CRD accepts it but the controller fails the job "
                "('argument value contains invalid characters')",
                arg.path, f"{arg.name}=",
            )
        elif isinstance(value, str) and CONTROLLER_ARG_VALUE.match(value) is None:
            # Already reported by the CRD pattern (schema layer); nothing new to say.
            continue


def _batch_size(job: Job) -> Iterator[Finding]:
    value = job.spec.get("batchSize")
    if isinstance(value, str) and not BATCH_SIZE.match(value.strip()):
        yield job.finding(
            "LME015",
            f"batchSize {value!r} is rejected by the controller: use 'auto', 'auto:N' or a positive integer 'N'",
            "spec.batchSize", value,
        )


def _limit(job: Job) -> Iterator[Finding]:
    value = job.spec.get("limit")
    if isinstance(value, str) and LIMIT.match(value):
        number = float(value)
        if number <= 0:
            yield job.finding("LME015", f"limit {value!r} must be positive", "spec.limit", value)
        elif "." in value and number > 1:
            yield job.finding(
                "LME015", f"limit {value!r} is a fraction above 1: use an integer count or a fraction in (0, 1]",
                "spec.limit", value,
            )


def _git_source(job: Job) -> Iterator[Finding]:
    git = _dig(job.spec, "taskList", "customTasks", "source", "git")
    if not isinstance(git, dict):
        return
    commit = git.get("commit")
    if isinstance(commit, str) and not GIT_COMMIT.match(commit):
        yield job.finding(
            "LME015", "customTasks git commit must be a hexadecimal hash of 7-40 characters",
            "spec.taskList.customTasks.source.git.commit", commit,
        )
    branch = git.get("branch")
    if isinstance(branch, str) and (not branch or SHELL_METACHARACTERS.search(branch)):
        yield job.finding(
            "LME015", "customTasks git branch is empty or contains shell metacharacters",
            "spec.taskList.customTasks.source.git.branch", branch,
        )


def _tasks_present(job: Job) -> Iterator[Finding]:
    task_list = job.spec.get("taskList")
    if not isinstance(task_list, dict):
        return
    if not job.task_names() and not job.task_recipes():
        yield job.finding(
            "LME015", "taskList has no taskNames and no taskRecipes: lm-eval has nothing to run",
            "spec.taskList", "taskList",
        )


# -- placeholders and object names anywhere in the spec -------------------------------------------
_REF_NAME_KEYS = {
    "secretKeyRef": "name", "configMapKeyRef": "name", "secretRef": "name", "configMapRef": "name",
    "secret": "secretName", "configMap": "name", "persistentVolumeClaim": "claimName",
}


def placeholder_rules(job: Job, already: set[str]) -> Iterator[Finding]:
    """`$VAR` / `<name>` placeholders left from documentation, and invalid object names."""
    for path, value, parent_key in _walk_strings(job.spec, "spec", None):
        if path in already or _was_redacted(value):
            continue
        if parent_key is not None and _is_object_name(path, parent_key) and not DNS1123_SUBDOMAIN.match(value):
            yield job.finding(
                "LME015", f"{path} {value!r} is not a valid Kubernetes object name (lowercase DNS-1123)",
                path, value,
            )
            continue
        placeholder = PLACEHOLDER.search(value)
        if placeholder and not path.endswith(".value") and "systemInstruction" not in path:
            yield job.finding(
                "LME015", f"{path} contains the placeholder {placeholder.group(0)!r}: replace it with the real value",
                path, _short(value),
            )
        elif placeholder and path.startswith("spec.pod.container.env") and re.fullmatch(r"\$\{?\w+\}?", value):
            yield job.finding(
                "LME015",
                f"{path} is the placeholder {value!r}: Kubernetes does not expand it from the environment",
                path, value,
            )


def _is_object_name(path: str, parent_key: str) -> bool:
    leaf = path.rsplit(".", 1)[-1]
    if leaf in ("pvcName",):
        return True
    return _REF_NAME_KEYS.get(parent_key) == leaf


def _walk_strings(node: Any, path: str, parent_key: str | None) -> Iterator[tuple[str, str, str | None]]:
    if isinstance(node, str):
        yield path, node, parent_key
    elif isinstance(node, dict):
        last = path.rsplit(".", 1)[-1].split("[")[0]
        for key, value in node.items():
            yield from _walk_strings(value, S.join(path, str(key)), last)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_strings(value, S.join(path, i), parent_key)


# -- layer 3: the seed's root causes visible in the spec -------------------------------------------
def endpoint_rules(job: Job) -> Iterator[Finding]:
    """LME002 base_url path, LME005 openai-completions against a local server."""
    model = job.model
    base_url = job.arg("base_url")
    url = str(base_url.value) if base_url is not None and base_url.value is not None else None
    if model in ENDPOINT_FOR_MODEL:
        expected = ENDPOINT_FOR_MODEL[model]
        if base_url is None or not url:
            yield job.finding(
                "LME002", f"{model} needs a base_url model argument ending in {expected}; none is set",
                "spec.modelArgs" if "modelArgs" in job.spec else "spec.model", "base_url missing",
            )
        elif not url.rstrip("/").endswith(expected):
            other = next((p for m, p in ENDPOINT_FOR_MODEL.items() if m != model and url.rstrip("/").endswith(p)),
                         None)
            why = f"it points at {other}, the endpoint of the other model type" if other else \
                "lm-eval posts to it verbatim, so the server answers 404"
            yield job.finding(
                "LME002", f"{model} base_url must end in {expected}; {why}", base_url.path, url,
            )
    if model == "openai-completions" and url and "api.openai.com" not in url:
        yield job.finding(
            "LME005",
            "openai-completions is for the OpenAI API (tiktoken, prompt loglikelihoods only for babbage-002/"
            "davinci-002); against a local vLLM server use local-completions",
            "spec.model", f"model: {model}, base_url: {url}",
        )


def chat_rules(job: Job) -> Iterator[Finding]:
    """LME003 chat model with loglikelihood tasks, LME026 chat model without a chat template."""
    model = job.model
    if model not in CHAT_MODELS:
        return
    for i, task in job.task_names():
        if needs_loglikelihood(task):
            yield job.finding(
                "LME003",
                f"task {task!r} scores loglikelihoods, which {model} cannot return "
                "('Loglikelihood is not supported for chat completions')",
                f"spec.taskList.taskNames[{i}]", task,
            )
    if job.release is not None and not job.release.lmevaljob_chat_template:
        yield job.finding("LME026", no_chat_template_message(model, job.release), "spec.model", f"model: {model}")
        return
    template = job.spec.get("chatTemplate")
    enabled = isinstance(template, dict) and template.get("enabled") is True
    if not enabled:
        path = "spec.chatTemplate.enabled" if isinstance(template, dict) and "enabled" in template else "spec.model"
        yield job.finding(
            "LME026", f"{model} needs chat-formatted requests: set spec.chatTemplate.enabled: true",
            path, f"model: {model}",
        )


def no_chat_template_message(model: str, release: Release) -> str:
    """LME026 on a line whose LMEvalJob has no spec.chatTemplate (RHOAI 2.16): what to do instead."""
    return (f"{model or 'a chat model type'} needs chat-formatted requests, which {release.key} cannot send: its "
            "LMEvalJob has no spec.chatTemplate (the API server prunes it); use model: local-completions with "
            "base_url .../v1/completions")


def effective_tokenizer(job: Job) -> tuple[str, str] | None:
    """(value, path) of what AutoTokenizer will load client-side, or None when nothing is loaded."""
    model = job.model
    backend = (job.arg_str("tokenizer_backend") or "").lower()
    if backend in ("none", "remote", "tiktoken"):
        return None
    if model == "local-chat-completions" and not job.arg("tokenizer") and backend != "huggingface":
        return None  # chat: tokenizer_backend defaults to None, nothing loaded
    if model not in ("local-completions", "local-chat-completions", "hf"):
        return None
    for name in ("tokenizer", "model", "pretrained") if model != "hf" else ("tokenizer", "pretrained"):
        arg = job.arg(name)
        if arg is not None and arg.value not in (None, ""):
            return str(arg.value), arg.path
    return None


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~"))


def tokenizer_rules(job: Job) -> Iterator[Finding]:
    """LME004: the tokenizer (or its fallback, the served-model name) is no Hub repo id or path."""
    found = effective_tokenizer(job)
    if found is None:
        return
    value, path = found
    if _is_local_path(value) or HUB_REPO_ID.match(value) or value in LEGACY_HUB_IDS:
        return
    served = job.arg_str("model")
    from_fallback = job.arg("tokenizer") is None and job.model != "hf"
    certain = from_fallback or value == served
    message = (
        f"no tokenizer argument: lm-eval loads the served-model name {value!r} as a Hugging Face tokenizer, "
        "which is not a repo id"
        if from_fallback else
        f"tokenizer {value!r} is not a Hugging Face repo id (org/name) or a local path"
    )
    yield job.finding("LME004", message, path, value, None if certain else "warning")


def _hub_ids_needed(job: Job) -> list[tuple[str, str]]:
    found = effective_tokenizer(job)
    needed = []
    if found and not _is_local_path(found[0]):
        kind = "model" if found[1] == getattr(job.arg("pretrained"), "path", None) else "tokenizer"
        needed.append((f"{kind} {found[0]}", found[1]))
    if job.model == "hf":
        pretrained = job.arg("pretrained")
        if pretrained and isinstance(pretrained.value, str) and not _is_local_path(pretrained.value) \
                and (not found or found[1] != pretrained.path):
            needed.append((f"model {pretrained.value}", pretrained.path))
    return needed


def downloads_needed(job: Job) -> list[tuple[str, str]]:
    """(what, path) of everything the pod would fetch from the Hub (or git) when nothing is offline."""
    needed = _hub_ids_needed(job)
    needed += [(f"dataset of task {t}", f"spec.taskList.taskNames[{i}]") for i, t in job.task_names()]
    needed += [(f"Unitxt recipe {i}", f"spec.taskList.taskRecipes[{i}]") for i, _ in enumerate(job.task_recipes())]
    if isinstance(_dig(job.spec, "taskList", "customTasks", "source", "git"), dict):
        needed.append(("custom tasks from git", "spec.taskList.customTasks.source.git"))
    return needed


def offline_rules(job: Job, permissions: Permissions | None) -> Iterator[Finding]:
    """LME001 (job runs offline but needs downloads), LME102/LME103 (requested but not permitted)."""
    needed = downloads_needed(job)
    if job.flag("allowOnline"):
        if permissions is not None and not permissions.online:
            yield job.finding(
                "LME102",
                "the job sets allowOnline: true but this cluster does not permit online access: the pod runs "
                "offline" + (f" and cannot fetch {needed[0][0]}" if needed and not job.has_offline_storage() else ""),
                "spec.allowOnline", "allowOnline: true",
            )
    elif needed and not job.has_offline_storage():
        certain = not job.mounts_hf_home()
        # Point at the line to change: allowOnline when present, else the spec it belongs in.
        path = "spec.allowOnline" if "allowOnline" in job.spec else "spec"
        what = ", ".join(w for w, _ in needed[:3]) + (" ..." if len(needed) > 3 else "")
        yield job.finding(
            "LME001",
            f"allowOnline is {'false' if 'allowOnline' in job.spec else 'not set'} and nothing is provided "
            f"offline (spec.offline.storage), but the pod must download: {what}",
            path, "allowOnline: " + str(job.spec.get("allowOnline", "unset")).lower(),
            None if certain else "warning",
        )
    if job.flag("allowCodeExecution") and permissions is not None and not permissions.code_execution:
        yield job.finding(
            "LME103",
            "the job sets allowCodeExecution: true but this cluster does not permit code execution",
            "spec.allowCodeExecution", "allowCodeExecution: true",
        )
    if not job.flag("allowCodeExecution"):
        for i, task in job.task_names():
            if needs_code_execution(task):
                yield job.finding(
                    "LME010", f"task {task!r} executes generated code: set spec.allowCodeExecution: true",
                    f"spec.taskList.taskNames[{i}]", task,
                )


# -- hygiene: secrets, TLS, client tuning ----------------------------------------------------------
def holds_credential(name: str, value: Any) -> bool:
    """A literal credential: a secret name with a value, a credential-shaped value, a URL with a password,
    or what a collector already replaced by <redacted> (so --from-dir of a --collect tree agrees)."""
    return isinstance(value, str) and bool(value) and (
        is_secret_name(name) or is_secret_value(value) or _was_redacted(value))


def secret_rules(job: Job) -> Iterator[Finding]:
    """LME018: credentials written inline (model args or env values). Values are never shown."""
    for key in ("modelArgs", "genArgs"):
        for arg in job.args(key):
            if holds_credential(arg.name, arg.value):
                yield job.finding(
                    "LME018", f"{key} {arg.name!r} holds a credential inline{_in_url(arg.name, arg.value)}",
                    arg.path, f"{arg.name}={REDACTED}",
                )
    for env_path, env in _env_lists(job):
        for i, var in enumerate(env):
            if not isinstance(var, dict) or not isinstance(var.get("name"), str):
                continue
            if holds_credential(var["name"], var.get("value")):
                yield job.finding(
                    "LME018", f"env {var['name']} holds a credential inline{_in_url(var['name'], var['value'])}",
                    f"{env_path}[{i}].value", f"{var['name']}={REDACTED}",
                )


def _in_url(name: str, value: str) -> str:
    if is_secret_name(name) or "://" not in value:
        return ""
    return " (a password in the URL: pass it in a Secret-backed env var, e.g. api_key, instead)"


def _env_lists(job: Job) -> Iterator[tuple[str, list[Any]]]:
    pod = mapping_or_empty(job.spec.get("pod"))
    env = _dig(pod, "container", "env")
    if isinstance(env, list):
        yield "spec.pod.container.env", env
    for wrong in ("env",):  # env at the wrong level still lands in the CR (and in git)
        if isinstance(job.spec.get(wrong), list):
            yield f"spec.{wrong}", job.spec[wrong]
        if isinstance(pod.get(wrong), list):
            yield f"spec.pod.{wrong}", pod[wrong]
    sidecars = pod.get("sideCars")
    if isinstance(sidecars, list):
        for i, car in enumerate(sidecars):
            if isinstance(car, dict) and isinstance(car.get("env"), list):
                yield f"spec.pod.sideCars[{i}].env", car["env"]


def tls_and_tuning_rules(job: Job) -> Iterator[Finding]:
    verify = job.arg("verify_certificate")
    if verify is not None and str(verify.value).strip().lower() in FALSE_VALUES:
        yield job.finding(
            "LME028", "verify_certificate is False: any certificate is accepted", verify.path,
            f"verify_certificate={verify.value}",
        )
    if job.model in LOCAL_MODELS:
        missing = [name for name in CLIENT_TUNING_ARGS if job.arg(name) is None]
        if missing:
            path = "spec.modelArgs" if isinstance(job.spec.get("modelArgs"), list) else "spec.model"
            yield job.finding(
                "LME029", f"model arguments {', '.join(missing)} are not set (defaults: 1 request at a time, "
                "3 attempts, 300 s)", path, "missing: " + ", ".join(missing),
            )


def managed_pvc_rules(job: Job) -> list[Finding]:
    """outputs.pvcManaged.size the controller cannot parse or the apiserver refuses (LME040, rules/managed_pvc)."""
    from lmeval_setup.rules.managed_pvc import size_findings

    return size_findings(job.spec, job.target)


# -- entry points ------------------------------------------------------------------------------------
Detector = Callable[[Job], Iterable[Finding]]
DETECTORS: tuple[Detector, ...] = (
    controller_rules, endpoint_rules, chat_rules, tokenizer_rules, secret_rules, tls_and_tuning_rules,
    managed_pvc_rules,
)


def spec_findings(
    job: dict[str, Any], permissions: Permissions | None = None, *, target: Target | None = None,
    release: Release | None = None,
) -> list[Finding]:
    """All spec findings for one LMEvalJob document (for `release`'s CRD when given). Never raises on
    malformed input."""
    if not isinstance(job, dict):
        return []
    wrapped = Job(job, target or target_for(job), release=release)
    findings = list(schema_rules(wrapped))
    flagged = {ev.path for f in findings for ev in f.evidence if ev.path}
    for detector in DETECTORS:
        findings.extend(detector(wrapped))
    findings.extend(offline_rules(wrapped, permissions))
    flagged |= {ev.path for f in findings for ev in f.evidence if ev.path}
    findings.extend(placeholder_rules(wrapped, flagged))
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str | None]] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.evidence[0].path if f.evidence else None)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
