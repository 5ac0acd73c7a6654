"""The seed's LMEvalJobs: one per common mistake plus one good job, in ONE place.

The `broken-jobs` scenario creates them, the sandbox tests assert how each one ends, and the doctor's
tests check that each gets its rule. Every manifest passes the LMEvalJob CRD (the mistakes are the
kind the apiserver cannot see); `expected_rule` is the catalog id the doctor should report.

The model endpoint is a KServe/vLLM InferenceService `granite` (vLLM's --served-model-name is the
InferenceService name), reached on its cluster-local predictor service.
"""

from __future__ import annotations

import copy
from dataclasses import KW_ONLY, dataclass

from lmeval_setup.kube.client import JSON
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION

DEMO_NAMESPACE = "private-ai-demo"
SERVED_MODEL = "granite"
HF_TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"
ENDPOINT = f"http://{SERVED_MODEL}-predictor.{DEMO_NAMESPACE}.svc.cluster.local:8080"
COMPLETIONS_URL = f"{ENDPOINT}/v1/completions"
CHAT_URL = f"{ENDPOINT}/v1/chat/completions"
LOGLIKELIHOOD_TASK = "arc_easy"


@dataclass(frozen=True)
class SeedJob:
    name: str
    mistake: str  # what is wrong, in one line ("" for the good job)
    _: KW_ONLY
    expected_rule: str | None  # rules/catalog.py id the doctor should report
    manifest: JSON

    @property
    def should_succeed(self) -> bool:
        return self.expected_rule is None

    def for_namespace(self, namespace: str) -> JSON:
        body = copy.deepcopy(self.manifest)
        body["metadata"]["namespace"] = namespace
        return body


def lmevaljob(name: str, model: str, model_args: dict[str, str], *, allow_online: bool,
              tasks: tuple[str, ...] = (LOGLIKELIHOOD_TASK,), namespace: str = DEMO_NAMESPACE) -> JSON:
    """An LMEvalJob as an admin would write it (values quoted: batchSize and args are strings)."""
    return {
        "apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}",
        "kind": "LMEvalJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": model,
            "modelArgs": [{"name": k, "value": v} for k, v in model_args.items()],
            "taskList": {"taskNames": list(tasks)},
            "limit": "10",
            "batchSize": "1",
            "logSamples": True,
            "allowOnline": allow_online,
            "allowCodeExecution": False,
        },
    }


def _args(base_url: str = COMPLETIONS_URL, tokenizer: str | None = HF_TOKENIZER) -> dict[str, str]:
    args = {"model": SERVED_MODEL, "base_url": base_url, "num_concurrent": "1", "max_retries": "3",
            "tokenized_requests": "False"}
    if tokenizer is not None:
        args["tokenizer"] = tokenizer
    return args


SEED_JOBS: tuple[SeedJob, ...] = (
    SeedJob(
        "eval-no-online-access", "allowOnline is not set: the tokenizer and dataset cannot be downloaded",
        expected_rule="LME001",
        manifest=lmevaljob("eval-no-online-access", "local-completions", _args(), allow_online=False),
    ),
    SeedJob(
        "eval-base-url-no-completions", "base_url ends at /v1 instead of /v1/completions (404)",
        expected_rule="LME002",
        manifest=lmevaljob("eval-base-url-no-completions", "local-completions", _args(f"{ENDPOINT}/v1"),
                            allow_online=True),
    ),
    SeedJob(
        "eval-chat-loglikelihood", "local-chat-completions on arc_easy, a loglikelihood task",
        expected_rule="LME003", manifest=lmevaljob("eval-chat-loglikelihood", "local-chat-completions", _args(CHAT_URL),
                            allow_online=True),
    ),
    SeedJob(
        "eval-tokenizer-served-name", "tokenizer is the served-model name, not a Hugging Face repo id",
        expected_rule="LME004",
        manifest=lmevaljob("eval-tokenizer-served-name", "local-completions", _args(tokenizer=SERVED_MODEL),
                            allow_online=True),
    ),
    SeedJob(
        "eval-openai-completions-vllm", "openai-completions against vLLM (tiktoken cannot map the model)",
        expected_rule="LME005",
        manifest=lmevaljob("eval-openai-completions-vllm", "openai-completions", _args(tokenizer=None),
                            allow_online=True),
    ),
    SeedJob(
        "eval-good", "", expected_rule=None,
        manifest=lmevaljob("eval-good", "local-completions", _args(), allow_online=True),
    ),
)


def seed_jobs(namespace: str = DEMO_NAMESPACE) -> list[JSON]:
    return [job.for_namespace(namespace) for job in SEED_JOBS]


def seed_job(name: str) -> SeedJob:
    return next(job for job in SEED_JOBS if job.name == name)
