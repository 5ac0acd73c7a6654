"""rules.guarded: a required literal is only ever a literal every match contains, so skipping text without
it never hides a match. Checked on the reader's tricky syntax, on strings generated from the rule tables'
own patterns and from random patterns (hypothesis.from_regex), and on every line of the captured logs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmeval_setup.rules import logs as L
from lmeval_setup.rules import status as S
from lmeval_setup.rules.guarded import GuardedPattern, required_literals
from lmeval_setup.rules.operator_messages import OPERATOR_MESSAGES

SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared"))


@pytest.mark.parametrize(("source", "literals"), [
    (r"OSError: (?P<name>\S+) is not a local folder", (" is not a local folder",)),
    (r"abc|defg", ("abc", "defg")),
    (r"abcd?ef", ("abc",)),  # d may be absent: "abc" and "ef" are separate runs
    (r"abcde*f", ("abcd",)),
    (r"abcde+f", ("abcd",)),  # e repeats: "abcd" is fixed, "e...f" is not one run
    (r"abcd{2}ef", ("abc",)),  # {2} quantifies d
    (r"ab{cd}efg", ("ab{cd}efg",)),  # not a quantifier: a literal brace
    (r"x\.y\(z\)", ("x.y(z)",)),  # escaped punctuation is literal
    (r"Read\s+timed out", ("timed out",)),  # \s is a class
    (r"(?:abcdef)|xyz", None),  # the first alternative's only literal is inside a group
    (r"abc[|]def|ghi", ("abc", "ghi")),  # | in a class splits nothing
    (r"abc(?:x|y)def", ("abc",)),  # | in a group splits nothing
    (r"[]abc]xyz", ("xyz",)),  # ] first in a class is a member
    (r"(?i)abcdef", None),  # case-insensitive: a literal test would miss ABCDEF
    (r"(?x)abc def", None),  # verbose: whitespace is not literal
    (r"abc\x41def", None),  # \x41's argument is not two literals
    (r"(a)bcd\1", None),  # a backreference
    (r"ab", None),  # too short to pay
    (r"^TimeoutError\s*$", ("TimeoutError",)),
])
def test_required_literals(source: str, literals: tuple[str, ...] | None) -> None:
    assert required_literals(source) == literals


def test_flags_that_change_literals_turn_the_guard_off() -> None:
    assert GuardedPattern("abcdef", re.IGNORECASE).may_match("ABCDEF")
    assert GuardedPattern("abcdef").may_match("xx") is False


def _table_patterns() -> list[GuardedPattern]:
    module_level = [v for v in vars(L).values() if isinstance(v, GuardedPattern)]
    return ([p.regex for p in L._FINAL] + module_level + [m.pattern for m in OPERATOR_MESSAGES]
            + [entry[0] for entry in S._STATUS_MESSAGES])


@pytest.mark.parametrize("pattern", _table_patterns(), ids=lambda p: p.source[:40])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_string_a_table_pattern_matches_passes_its_guard(pattern: GuardedPattern, data: st.DataObject) -> None:
    text = data.draw(st.from_regex(pattern.regex))
    assert pattern.regex.search(text) and pattern.may_match(text), text


# Random patterns of the syntax the reader takes apart: literals (some escaped), classes, groups (some with an
# alternation inside), quantifiers (some lazy) and top-level alternation.
_ATOMS = st.one_of(
    st.text("abcXYZ :'", min_size=1, max_size=4), st.sampled_from([r"\.", r"\(", r"\)", r"\{", "{", "}", r"\s", r"\d",
                                                                     r"\w", r"\b", ".", "[^']", "[]x]", "[a-c]"]),
    st.builds(lambda a, b: f"(?:{a}|{b})", st.text("abc", min_size=1, max_size=3), st.text("xyz", max_size=3)),
    st.builds(lambda a: f"({a})", st.text("abc", min_size=1, max_size=3)),
)
_QUANTIFIERS = st.sampled_from(["", "", "", "?", "*", "+", "*?", "{2}", "{1,2}"])
_PIECES = st.builds(lambda atom, q: atom + q, _ATOMS, _QUANTIFIERS)
_ALTERNATIVES = st.lists(st.lists(_PIECES, min_size=1, max_size=8).map("".join), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), alternatives=_ALTERNATIVES)
def test_every_string_a_random_pattern_matches_passes_its_guard(data: st.DataObject, alternatives: list[str]) -> None:
    source = "|".join(alternatives)
    try:
        compiled = re.compile(source)
    except re.error:
        return
    pattern = GuardedPattern(source)
    text = data.draw(st.from_regex(compiled))
    assert pattern.may_match(text), (source, pattern.literals, text)


def test_no_line_of_the_captured_logs_matches_past_its_guard() -> None:
    logs = sorted((SHARED / "fixtures" / "logs").glob("*/*.log"))
    if not logs:
        pytest.skip(f"no captured logs under {SHARED}")
    patterns = _table_patterns()
    matched = 0
    for log in logs:
        for line in L.split_lines(log.read_text(errors="replace")):
            for pattern in patterns:
                if pattern.regex.search(line):
                    matched += 1
                    assert pattern.may_match(line), (log.name, pattern.source, line)
    assert matched > 50  # the check ran on real matches


def test_a_log_compiles_only_the_patterns_its_text_can_match() -> None:
    """A fresh catalog state is not reachable in this process (other tests compiled patterns): count in a
    child interpreter."""
    import subprocess
    import sys

    code = ("from lmeval_setup.rules import logs as L\n"
            "assert not any(p.regex.compiled for p in L._FINAL), 'compiled at import'\n"
            "hit = L.failure('Traceback (most recent call last):\\n"
            "OSError: granite is not a local folder and is not a valid model identifier listed on x\\n')\n"
            "assert hit is not None and hit.rule_id == 'LME004', hit\n"
            "print(sorted(p.name for p in L._FINAL if p.regex.compiled))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "['ERR-005']"
