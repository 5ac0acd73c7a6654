"""The one redactor: what counts as a secret, for every output format and every file the tool writes.

Rules see real values (a redacted value would trip the very checks that read it); outputs do not. Three
questions, answered here and nowhere else:
- `is_secret_name(name)`: does an env var / model argument / key=value name hold a credential? The name
  is split into words (OPENAI_API_KEY, apiKey, x-api-key, PGPASSWORD); a word naming a credential makes it
  secret unless the last word says the value only *locates or describes* one (PASSWORD_FILE, SECRET_NAME,
  TOKEN_LIMIT, KEY_FIELD, AWS_ACCESS_KEY_ID); `*_KEY` and `*_TOKEN` are credentials except for
  data-structure keys (SORT_KEY, CACHE_KEY) and a tokenizer's tokens (add_bos_token, pad_token).
  `max_tokens` and `tokenizer` are not secrets.
- `is_secret_value(value)`: does a value have a credential's shape whatever its name (sk-..., hf_...,
  a JWT, `Bearer ...`, a URL with a password)?
- `redact_text(text)`: free text (messages, log lines, evidence) with every credential-shaped part masked,
  including `name=value` pairs whose name is secret and the password of `scheme://user:password@host`.

And one question of display, for the same outputs: `printable(text)` is text from outside (a file name, a log
line, a manifest's value) with its control characters shown as escapes, so it can neither drive the terminal or
CI log that shows it (an escape sequence in a file name) nor make an XML report unreadable.
"""

from __future__ import annotations

import re
from functools import lru_cache

REDACTED = "<redacted>"

# Words that name a credential wherever they appear in a name.
_SECRET_WORDS = frozenset({
    "password", "passwd", "pass", "pwd", "pw", "passphrase", "secret", "secrets", "apikey",
    "credential", "credentials", "privatekey", "secretkey", "accesskey", "bearer", "cookie", "authorization",
})
# ... and as part of a longer word: PGPASSWORD, clientsecret, hftoken, dbpass.
_SECRET_FRAGMENTS = ("password", "passwd", "passphrase", "secret", "apikey", "privatekey", "accesstoken")
_NOT_PASS = frozenset({"bypass", "compass", "surpass", "overpass", "underpass", "encompass"})
# A last word saying the value points at or describes the secret instead of being it.
_QUALIFIERS = frozenset({
    "file", "files", "path", "dir", "directory", "url", "uri", "endpoint", "host", "name", "names", "id", "ids",
    "ref", "field", "type", "kind", "limit", "count", "size", "length", "len", "max", "min", "ttl", "expiry",
    "expires", "expiration", "timeout", "enabled", "enable", "disabled", "mode", "prefix", "suffix", "format",
    "version", "policy", "location", "env", "var", "header", "param", "domain",
})
# `<kind>_KEY` naming a data-structure key, not a credential.
_NON_SECRET_KEY_KINDS = frozenset({
    "sort", "cache", "partition", "primary", "foreign", "routing", "group", "hash", "lookup", "map", "dict",
    "index", "label", "metric", "shard", "row", "column", "sequence", "idempotency", "object", "dedup", "join",
    "hot", "range", "composite", "unique", "order", "lang", "task", "dataset", "doc", "answer", "target",
})
# `<kind>_TOKEN` naming a tokenizer's token (lm-eval's add_bos_token, a pad_token), not a credential.
_NON_SECRET_TOKEN_KINDS = frozenset({
    "bos", "eos", "pad", "unk", "sep", "cls", "mask", "special", "start", "end", "stop", "max", "num", "new",
    "prompt", "input", "output", "gen", "first", "last", "image", "audio", "vision",
})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def name_words(name: str) -> list[str]:
    """OPENAI_API_KEY -> [openai, api, key]; apiKey -> [api, key]; HFToken -> [hf, token]."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORDS.findall(part)]


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    words = name_words(name)
    if not words or words[-1] in _QUALIFIERS:
        return False
    last = words[-1]
    if any(w in _SECRET_WORDS or any(f in w for f in _SECRET_FRAGMENTS) for w in words):
        return True
    if last in ("key", "keys"):  # OPENAI_API_KEY, CLIENT_CERT_KEY, TLS_KEY; not SORT_KEY
        return len(words) == 1 or words[-2] not in _NON_SECRET_KEY_KINDS
    if last == "token":  # HF_TOKEN, auth_token, access_token; not add_bos_token or pad_token
        return len(words) == 1 or words[-2] not in _NON_SECRET_TOKEN_KINDS
    # BASIC_AUTH, HTTP_AUTH; HFTOKEN, PGPASS written as one word
    return last == "auth" or last.endswith("token") or (last.endswith("pass") and last not in _NOT_PASS)


_SECRET_VALUE = re.compile(
    r"(?i)^(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|bearer\s+\S{8,}|basic\s+\S{8,}"
    r"|eyJ\S{20,}|AKIA[0-9A-Z]{16}$)"
)
# scheme://user:password@host -- the password (never empty) is group 2
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@?#]*:)([^@\s/?#]+)@")


def is_secret_value(value: str) -> bool:
    return bool(_SECRET_VALUE.match(value.strip()) or _URL_PASSWORD.search(value))


_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization headers: "Bearer abc.def", "Basic dXNlcjpwYXNz"
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # Well-known token shapes: OpenAI, Hugging Face, GitHub, AWS access key ids, JWTs.
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)
# name=value / name: value / "name": "value" where the name is secret (is_secret_name decides)
_ASSIGNMENT = re.compile(
    r"""(?x)
    (?<![A-Za-z_])                          # not just after a letter or _: a match starting at that letter
                                            # comes first anyway (searches resume after a separator or at a
                                            # delimiter), and a word is no longer retried from each of its
                                            # letters (half the time of sanitizing an lm-eval log)
    (?P<name>[A-Za-z_][A-Za-z0-9_.-]*+)      # a name, possessive: no separator starts with a name character, so
                                            # giving some back never matched, and cost O(length^2) per word
    (?P<sep>["']?\s*[=:](?!//)\s*["']?)     # = or :, quotes around either side; not scheme://
    (?!<redacted>)(?!(?i:bearer|basic)\s)  # already masked, or a header the pattern above masked
    (?P<value>[^\s"',}\]&;]{4,512})         # the value, up to a delimiter (& ends a query parameter)
    """
)

# Every pattern above needs one of these: one search rules most strings out, which matters when the
# doctor renders findings over thousands of jobs and pods and sanitizes hundreds of 400-line logs. It
# runs on the text's casefold(), case-sensitively: a case-insensitive alternation is tried branch by
# branch at every character (7.5x the time on lm-eval logs). Every character that matches one of these
# letters case-insensitively casefolds to that very letter, except the two Turkish i's, for which the
# case-insensitive form is kept (tests/unit/test_redact_candidates.py checks every code point). `pw` stands
# alone: as `pw\b` it missed MYSQL_PW1 and user_pw_2, names is_secret_name calls secret, and left their values.
_CANDIDATE_WORDS = r"bearer|basic|sk-|hf_|gh[pousr]_|akia|eyj|api|key|token|secret|pass|pwd|pw|auth|credential|cookie|://"
_CANDIDATE_FOLDED = re.compile(_CANDIDATE_WORDS)
_CANDIDATE = re.compile("(?i)" + _CANDIDATE_WORDS)
_NOT_FOLDED_TO_I = ("\u0130", "\u0131")  # dotted capital I, dotless small i: (?i) i matches both, casefold() neither
_SHORTEST_SECRET = 9  # "pw=abcd" plus one: no pattern matches fewer characters


_VALUE_REST = re.compile(r"""[^\s"',}\]&;]*""")


def _redact_assignments(text: str) -> str:
    """name=value pairs with a secret name get their value masked. A pair with another name is looked
    into (`url: http://h/?token=x`), so the search resumes at its value, not after it."""
    out: list[str] = []
    pos = 0
    while (match := _ASSIGNMENT.search(text, pos)) is not None:
        out.append(text[pos:match.start("value")])
        if is_secret_name(match.group("name")):
            out.append(REDACTED)
            pos = _VALUE_REST.match(text, match.end("value")).end()  # type: ignore[union-attr]
        else:
            pos = match.start("value")
    out.append(text[pos:])
    return "".join(out)


def _may_hold_secret(text: str) -> bool:
    """Does the text contain a word one of the patterns needs (in any case)?"""
    if any(i in text for i in _NOT_FOLDED_TO_I):
        return _CANDIDATE.search(text) is not None
    return _CANDIDATE_FOLDED.search(text.casefold()) is not None


def redact_text(text: str) -> str:
    if len(text) < _SHORTEST_SECRET or not _may_hold_secret(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    for pattern in _PATTERNS:
        replacement = (lambda m: f"{m.group(1)}{REDACTED}") if pattern.groups else REDACTED
        text = pattern.sub(replacement, text)
    return _redact_assignments(text)


def redact_pair(name: str, value: str) -> str:
    """The value of a `name: value` pair (env var, model argument) as it may be shown or written."""
    if value and value != REDACTED and (is_secret_name(name) or _SECRET_VALUE.match(value.strip())):
        return REDACTED
    return redact_text(value)  # a URL keeps its shape (rules read its path), only its password goes


# C0 controls but tab and newline, DEL, C1 controls (a terminal may take 0x9b as CSI), lone surrogates and the two
# non-characters XML 1.0 forbids.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """`text` with each control character as a visible escape (ESC as \\x1b, CR as \\r): tab and newline stay."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f"}.get(char) or (
        f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
