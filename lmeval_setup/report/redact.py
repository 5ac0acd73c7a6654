"""A last line of defence against secrets in output.

Detectors redact what they know is secret (an env value named *TOKEN*, an api_key model argument)
before building Evidence. Renderers additionally pass every free text through `redact_text`, which
masks strings that look like credentials whatever field they came from.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization headers: "Bearer abc.def", "Basic dXNlcjpwYXNz"
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # Well-known token shapes: OpenAI, Hugging Face, GitHub, AWS access key ids, JWTs.
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # key=value / key: value where the key names a credential
    re.compile(
        r"(?i)\b((?:api[_-]?key|token|secret|password|passwd|auth[_-]?token|access[_-]?key)[\"']?\s*[=:]\s*[\"']?)"
        r"(?!<redacted>)[^\s\"',}]{4,}"
    ),
)


# Every pattern above needs one of these words or prefixes: one search rules most strings out, which
# matters when the doctor sanitises every string of thousands of jobs and pods.
_CANDIDATE = re.compile(r"(?i)bearer|basic|sk-|hf_|gh[pousr]_|AKIA|eyJ|api|key|token|secret|passw|auth")
_SHORTEST_SECRET = 10  # "token=abcd": no pattern matches fewer characters


def redact_text(text: str) -> str:
    if len(text) < _SHORTEST_SECRET or not _CANDIDATE.search(text):
        return text
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}" if m.lastindex else REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text
