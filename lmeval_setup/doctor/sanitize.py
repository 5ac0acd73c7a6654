"""Remove secrets from objects and logs as they enter a Snapshot.

Done once, at collection, so that every later use (findings, every output format, `--collect` files)
only ever sees redacted data, and live and offline runs see the same text. The doctor never reads
Secrets; what leaks are literal env values and model arguments in LMEvalJobs and pods, bearer tokens in
logs, and the last-applied annotation (which repeats the whole spec).
"""

from __future__ import annotations

import re
from typing import Any

from lmeval_setup.report.redact import REDACTED, redact_text

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Field-ownership bookkeeping holds field names and timestamps, never values: kept as it is, unwalked
# (it is most of an object's strings, and LME106 reads its times).
MANAGED_FIELDS = "managedFields"
# Whole name segments only: OPENAI_API_KEY, HF_TOKEN, auth_token -- but not tokenizer or max_tokens.
SECRET_NAME = re.compile(
    r"(?i)(?:^|[_.-])(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|credentials?|auth|bearer)(?:$|[_.-])"
)
SECRET_VALUE = re.compile(
    r"(?i)^(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|bearer\s+\S{8,}|eyJ\S{20,})"
)


def sanitize_object(obj: Any) -> Any:
    """A deep copy with credential-looking values replaced by <redacted>."""
    if isinstance(obj, dict):
        out = {k: v if k == MANAGED_FIELDS else sanitize_object(v) for k, v in obj.items() if k != LAST_APPLIED}
        name, value = out.get("name"), out.get("value")
        # {name, value} is the shape of env vars, modelArgs and genArgs.
        if isinstance(name, str) and isinstance(value, str) and value and (
            SECRET_NAME.search(name) or SECRET_VALUE.match(value)
        ):
            out["value"] = REDACTED
        return out
    if isinstance(obj, list):
        return [sanitize_object(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def sanitize_log(text: str) -> str:
    return "\n".join(redact_text(line) for line in text.split("\n"))
