"""redact_text's first question, "could this text hold a secret at all?", asked on the casefolded text:
every text the case-insensitive words matched still passes (so nothing that was redacted is missed), on
every code point, and the words no longer miss a password whose name has something after `pw`."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from lmeval_setup import redact as RD

# The words as first written (case-insensitive; `pw` only at a word end).
AS_FIRST_WRITTEN = re.compile(
    r"(?i)bearer|basic|sk-|hf_|gh[pousr]_|AKIA|eyJ|api|key|token|secret|pass|pwd|pw\b|auth|credential|cookie|://")


def test_every_character_matching_a_letter_casefolds_to_it_but_the_two_turkish_is() -> None:
    letters = sorted({c for c in RD._CANDIDATE_WORDS.lower() if c.isalpha()})
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    unfolded = {(letter, m.group()) for letter in letters for m in re.finditer(f"(?i){letter}", every)
                if m.group().casefold() != letter}
    assert unfolded == {("i", "\u0130"), ("i", "\u0131")}
    assert set(RD._NOT_FOLDED_TO_I) == {"\u0130", "\u0131"}


def _texts() -> list[str]:
    pieces = ["Bearer", "BASIC", "ba\u017fic", "sk-", "HF_", "ghp_", "AKIA", "eyJ", "ApI", "KEY", "Token", "SECRET",
              "Pass", "pwd", "PW", "pw", "auth", "Credential", "COOKIE", "://", " ", "_", "1", "=", "x", "\u0130",
              "\u0131", "\u212a", "ß", "ﬁ"]
    rng = random.Random(7)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(30_000)]


def test_whatever_the_words_matched_still_passes() -> None:
    for text in _texts():
        if AS_FIRST_WRITTEN.search(text):
            assert RD._may_hold_secret(text), text


@pytest.mark.shared
def test_log_lines_pass_exactly_as_before(fixtures_dir: Path) -> None:
    lines = [line for path in sorted((fixtures_dir / "logs").glob("*/*.log"))
             for line in path.read_text().split("\n")]
    assert [bool(AS_FIRST_WRITTEN.search(x)) for x in lines] == [RD._may_hold_secret(x) for x in lines]


@pytest.mark.parametrize("text", ["MYSQL_PW1: hunter22x", "user_pw_2=hunter22x", "PW2=hunter22x"])
def test_a_password_named_with_something_after_pw_is_redacted(text: str) -> None:
    assert "hunter22x" not in RD.redact_text(text)


@pytest.mark.parametrize("text", ["Ba\u017fic dXNlcjpwYXNzd29yZA==", "Authorization: Bearer abc.def.ghi.jkl"])
def test_other_spellings_are_still_redacted(text: str) -> None:
    assert RD.REDACTED in RD.redact_text(text)


# The name=value pattern as first written, before it looked behind for a letter.
ASSIGNMENT_AS_FIRST_WRITTEN = RD._ASSIGNMENT.pattern.replace("(?<![A-Za-z_])", "", 1)


def _redacted_both_ways(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    now = [RD.redact_text(t) for t in texts]
    monkeypatch.setattr(RD, "_ASSIGNMENT", re.compile(ASSIGNMENT_AS_FIRST_WRITTEN, RD._ASSIGNMENT.flags))
    return now, [RD.redact_text(t) for t in texts]


def test_name_value_pairs_are_redacted_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RD._ASSIGNMENT.pattern != ASSIGNMENT_AS_FIRST_WRITTEN
    pieces = ["token", "=", ":", " ", "'", '"', "abc12345", "x", "1", "_", ".", "-", "&", "url", "//", "http://h/?",
              "key", "Bearer ", "\u00e9", "<redacted>", "api_key", ",", "}", "PW2"]
    rng = random.Random(3)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))) for _ in range(30_000)]
    now, before = _redacted_both_ways(texts, monkeypatch)
    assert now == before
    assert sum(a != t for a, t in zip(now, texts, strict=True)) > 1000  # the texts exercise redaction


@pytest.mark.shared
def test_log_lines_are_redacted_as_before(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [line for path in sorted((fixtures_dir / "logs").glob("*/*.log"))
             for line in path.read_text().split("\n")]
    now, before = _redacted_both_ways(lines, monkeypatch)
    assert now == before
