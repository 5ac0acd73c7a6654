"""Remove secrets from objects and logs before they are written (`--collect`) or shown.

Rules read the real values (a `<redacted>` placeholder would itself trip the spec checks); what leaves
the process goes through here or through the renderers, both on lmeval_setup.redact (one classifier of secret
names and values). The doctor never reads Secrets; what leaks are literal env values and model arguments
in LMEvalJobs and pods, bearer tokens and URLs with passwords in logs and messages, and the
last-applied annotation (which repeats the whole spec).
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.redact import redact_pair, redact_text

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Field-ownership bookkeeping holds field names and timestamps, never values: kept as it is, unwalked
# (it is most of an object's strings, and LME106 reads its times).
MANAGED_FIELDS = "managedFields"


def sanitize_object(obj: Any) -> Any:
    """A deep copy with credential-looking values replaced by <redacted>."""
    if isinstance(obj, dict):
        out = {k: v if k == MANAGED_FIELDS else sanitize_object(v) for k, v in obj.items() if k != LAST_APPLIED}
        name, value = out.get("name"), obj.get("value")
        # {name, value} is the shape of env vars, modelArgs and genArgs.
        if isinstance(name, str) and isinstance(value, str):
            out["value"] = redact_pair(name, value)
        return out
    if isinstance(obj, list):
        return [sanitize_object(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def sanitize_log(text: str) -> str:
    return "\n".join(redact_text(line) for line in text.split("\n"))
