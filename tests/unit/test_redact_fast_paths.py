"""redact's two fast paths change no output: the candidate test on an ASCII text's lower() answers what the
case-insensitive search answered, and the possessive name of the assignment pattern finds the same pairs.
The oracle is the patterns as they were, checked on generated text and every line of the captured logs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmeval_setup import redact as R

SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared"))
# The case-insensitive search is the reference (pw without \b since the MYSQL_PW1 leak: test_redact_candidates).
OLD_CANDIDATE = R._CANDIDATE
OLD_ASSIGNMENT = re.compile(R._ASSIGNMENT.pattern.replace("[A-Za-z0-9_.-]*+)", "[A-Za-z0-9_.-]*)", 1))

# Words the patterns look for in any case, the separators and delimiters around values, and characters
# whose case folding differs between re's (?i) and str.lower() (U+212A KELVIN, U+017F LONG S, U+0130).
_FRAGMENTS = st.sampled_from([
    "token", "TOKEN", "Bearer ", "basic ", "pw", "PW", "pass", "API_KEY", "apiKey", "secret", "auth", "cookie",
    "credential", "://", "ghp_", "GHS_", "eyJ", "AKIA", "hf_", "sk-", "=", ": ", ":", '"', "'", " ", "\n", "&", ";",
    "}", "]", ",", "-", ".", "_", "abcdefgh", "ABCD1234", "x", "0", "user:pw@", "http://h/", "<redacted>",
    "\u212a", "\u017f", "\u0130", "é", "pa\u017fs", "\u017fecret", "to\u212aen", "BA\u017fIC ",
])
_TEXT = st.lists(_FRAGMENTS, max_size=25).map("".join)


def _old_redact_text(text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patched:
        patched.setattr(R, "_ASSIGNMENT", OLD_ASSIGNMENT)
        patched.setattr(R, "_may_hold_secret", lambda t: OLD_CANDIDATE.search(t) is not None)
        return R.redact_text(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(text=_TEXT)
def test_generated_text_is_redacted_as_before(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert R._may_hold_secret(text) == (OLD_CANDIDATE.search(text) is not None), text
    assert R.redact_text(text) == _old_redact_text(text, monkeypatch), text


@pytest.mark.parametrize("text", ["PA\u017fS=abcdefgh", "x \u017fecret: abcdefgh", "to\u212aen=abcdefgh",
                                  "plain text only"])
def test_case_folding_beyond_ascii_is_the_case_insensitive_search(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """re's (?i) matches U+017F for s and U+212A for k; str.lower() turns only the second into ASCII."""
    assert R._may_hold_secret(text) == (OLD_CANDIDATE.search(text) is not None)
    assert R.redact_text(text) == _old_redact_text(text, monkeypatch)


def test_every_captured_log_line_is_redacted_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    logs = sorted((SHARED / "fixtures" / "logs").glob("*/*.log"))
    if not logs:
        pytest.skip(f"no captured logs under {SHARED}")
    changed = 0
    for log in logs:
        for line in log.read_text(errors="replace").split("\n"):
            new = R.redact_text(line)
            assert new == _old_redact_text(line, monkeypatch), (log.name, line)
            changed += new != line
    assert changed > 0  # some lines held secrets: the redacting path ran, not only the early return


def test_printable_escapes_controls_and_keeps_every_other_character() -> None:
    from lmeval_setup.redact import printable

    kept = "tab\there\nnew line, é ü 日本 ✓ \u2028"
    assert printable(kept) is kept  # the fast path: nothing to escape, the same object back
    assert printable("\x00\x07\x08\x0b\x0c\r\x1b[0m\x7f\x85\x9b\ud800\ufffe\uffff") == (
        "\\x00\\x07\\x08\\v\\f\\r\\x1b[0m\\x7f\\x85\\x9b\\ud800\\ufffe\\uffff")
