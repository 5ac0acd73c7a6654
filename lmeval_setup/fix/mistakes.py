"""The seed's five mistakes (LME001-LME005), computed from what an LMEvalJob gives lm-eval.

A second opinion for the fix engine's tests: after a fix, `spec_mistakes(EvalInputs.from_job(fixed))` must be
empty. It reasons from lm-eval's documented behaviour (../shared/reference/lm-eval-errors.md §2, §5) on the
job's arguments, independently of the lint rules in rules/spec.py. Nothing here decides how a sandbox job
ends: sandbox jobs run the real lm-eval (issue 12), whose output the doctor explains.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.rules.models import CHAT_MODELS, ENDPOINT_PATH, HF_HOME, OPENAI_MODELS
from lmeval_setup.rules.tasks import needs_loglikelihood

OUTPUT_PATH = "/opt/app-root/src/output"

DEFAULT_TOKENIZER_BACKEND = {
    "local-completions": "huggingface",
    "openai-completions": "tiktoken",
    "local-chat-completions": None,
    "openai-chat-completions": None,
}
# Repo ids from the Hub's early days that have no namespace, so a bare name is not always wrong.
CANONICAL_BARE_REPOS = frozenset(
    {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2", "bert-base-uncased", "t5-small",
     "t5-base", "t5-large", "roberta-base", "facebook-opt"}
)
# Tasks of lm-eval's own catalog whose dataset lm-eval downloads from the Hub at task load (custom tasks and
# Unitxt recipes ship or name their data otherwise: nothing is known about them).
HUB_DATASET_TASKS = frozenset(
    {"arc_easy", "arc_challenge", "hellaswag", "winogrande", "piqa", "boolq", "openbookqa", "sciq",
     "truthfulqa_mc1", "truthfulqa_mc2", "mmlu", "lambada_openai", "wikitext", "gsm8k", "ifeval", "truthfulqa_gen"}
)


@dataclass(frozen=True)
class EvalInputs:
    """What lm-eval is given: model type, model_args, tasks, whether the pod is online, what is mounted."""

    model: str
    model_args: dict[str, str]
    _: KW_ONLY
    tasks: tuple[str, ...]
    online: bool  # False when the operator sets HF_HUB_OFFLINE=1 (the default)
    local_dirs: tuple[str, ...] = ()  # mount paths present in the main container
    assets_staged: bool = False  # spec.offline.storage: datasets/tokenizers cached under HF_HOME
    env_names: frozenset[str] = frozenset()
    apply_chat_template: bool = False
    batch_size: str = "1"
    limit: str | None = None
    num_fewshot: int | None = None

    @property
    def model_args_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.model_args.items())

    @classmethod
    def from_job(cls, job: dict[str, Any], *, online_permitted: bool, default_batch_size: str = "8") -> EvalInputs:
        """From an LMEvalJob and whether the cluster permits online access (effective permission)."""
        spec = job.get("spec") or {}
        container = (spec.get("pod") or {}).get("container") or {}
        offline_storage = ((spec.get("offline") or {}).get("storage")) or {}
        staged = bool(offline_storage.get("pvcName") or offline_storage.get("s3"))
        dirs = [m.get("mountPath", "") for m in container.get("volumeMounts") or []]
        dirs.append(OUTPUT_PATH)
        if staged:
            dirs.append(HF_HOME)
        task_list = spec.get("taskList") or {}
        tasks = list(task_list.get("taskNames") or [])
        tasks += [f"tr_{i}" for i, _ in enumerate(task_list.get("taskRecipes") or [])]
        chat = spec.get("chatTemplate") or {}
        return cls(
            model=str(spec.get("model", "")),
            model_args={str(a.get("name")): str(a.get("value", "")) for a in spec.get("modelArgs") or []},
            tasks=tuple(tasks),
            online=bool(spec.get("allowOnline")) and online_permitted,
            local_dirs=tuple(d for d in dirs if d),
            assets_staged=staged,
            env_names=frozenset(e.get("name", "") for e in container.get("env") or []),
            apply_chat_template=bool(chat.get("enabled")),
            batch_size=str(spec.get("batchSize") or default_batch_size),
            limit=str(spec["limit"]) if spec.get("limit") else None,
            num_fewshot=spec.get("numFewShot"),
        )


def tokenizer_backend(inputs: EvalInputs) -> str | None:
    raw = inputs.model_args.get("tokenizer_backend")
    if raw is None:
        return DEFAULT_TOKENIZER_BACKEND.get(inputs.model, "huggingface")
    return None if raw.lower() == "none" else raw


def tokenizer_name(inputs: EvalInputs) -> str:
    """lm-eval loads `tokenizer` if given, else the `model` (or `pretrained`) argument."""
    args = inputs.model_args
    return args.get("tokenizer") or args.get("model") or args.get("pretrained") or ""


def name_kind(name: str) -> str:
    """'path' (absolute or relative dir), 'repo' (namespace/name), 'bare' (a served-model name)."""
    if name.startswith(("/", "./", "../", "~")):
        return "path"
    if "/" in name or name in CANONICAL_BARE_REPOS:
        return "repo"
    return "bare"


def path_is_mounted(inputs: EvalInputs, path: str) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in inputs.local_dirs)


def base_url_problem(inputs: EvalInputs) -> str | None:
    """'missing', 'chat-endpoint', 'completions-endpoint' or 'wrong-path'; None when it fits."""
    expected = ENDPOINT_PATH.get(inputs.model)
    if expected is None:
        return None
    url = inputs.model_args.get("base_url")
    if not url:
        # openai-* default to api.openai.com; local-* post to 'None'.
        return None if inputs.model in OPENAI_MODELS else "missing"
    rest = url.split("://", 1)[-1]
    path = ("/" + rest.split("/", 1)[1] if "/" in rest else "/").rstrip("/") or "/"
    if path.endswith(expected):
        return None
    if path.endswith("/v1/chat/completions"):
        return "chat-endpoint"
    if path.endswith("/v1/completions"):
        return "completions-endpoint"
    return "wrong-path"


def datasets_to_download(inputs: EvalInputs) -> list[str]:
    """Catalog tasks whose dataset is not in the pod's HF cache (custom tasks ship their data)."""
    if inputs.assets_staged:
        return []
    return [t for t in inputs.tasks if t in HUB_DATASET_TASKS]


def chat_loglikelihood_tasks(inputs: EvalInputs) -> list[str]:
    return [t for t in inputs.tasks if needs_loglikelihood(t)] if inputs.model in CHAT_MODELS else []


def spec_mistakes(inputs: EvalInputs) -> list[str]:
    """Every seed mistake (LME001-LME005) present, in rule order; empty for a good spec."""
    found: list[str] = []
    backend = tokenizer_backend(inputs)
    name = tokenizer_name(inputs)
    hf_tokenizer = backend == "huggingface" and inputs.model != "hf"
    needs_hub = (hf_tokenizer and name_kind(name) == "repo") or bool(datasets_to_download(inputs))
    if needs_hub and not inputs.online:
        found.append("LME001")
    if base_url_problem(inputs) is not None:
        found.append("LME002")
    if chat_loglikelihood_tasks(inputs):
        found.append("LME003")
    if hf_tokenizer and name_kind(name) == "bare":
        found.append("LME004")
    if inputs.model == "openai-completions":
        found.append("LME005")
    return found
