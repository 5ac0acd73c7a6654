"""Facts about lm-eval model types and the job image, written once.

Used by the spec rules (lint and doctor), the simulated TrustyAI operator and its outcome model, and
the sandbox's LMEvalJob CRD, so that "which endpoint does local-chat-completions call" has one answer.
"""

from __future__ import annotations

# The model types the TrustyAI controller accepts (controllers/lmes/validation.go; the CRD enum after v1.38).
MODEL_TYPES: tuple[str, ...] = (
    "hf", "openai-completions", "openai-chat-completions", "local-completions", "local-chat-completions",
    "watsonx_llm", "textsynth",
)
CHAT_MODELS = frozenset({"local-chat-completions", "openai-chat-completions"})
LOCAL_MODELS = frozenset({"local-completions", "local-chat-completions"})
OPENAI_MODELS = frozenset({"openai-completions", "openai-chat-completions"})
# lm-eval posts to base_url verbatim: the path must be the endpoint the model type calls.
ENDPOINT_PATH: dict[str, str] = {
    "local-completions": "/v1/completions",
    "openai-completions": "/v1/completions",
    "local-chat-completions": "/v1/chat/completions",
    "openai-chat-completions": "/v1/chat/completions",
}
# HF_HOME of the job image; the operator mounts spec.offline.storage there.
HF_HOME = "/opt/app-root/src/hf_home"
