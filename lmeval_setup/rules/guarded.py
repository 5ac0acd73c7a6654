"""Regexes of the rule tables, compiled on first use and searched only in text that can match them.

A cold `doctor -n NS` compiled every table's regex at import (~70 in rules.logs alone, ~5 ms of CPU:
re's parser and compiler are pure Python) and then searched each of rules.logs' final-exception patterns
in every line of every failed pod's log (~19,000 searches, ~8 ms), though a line rarely holds any of them.
Most of these patterns contain a literal that every match must contain ("OSError: ", "Connection
refused"): a `str` containment test (C, no regex machinery) rules a line out before the regex is even
compiled. The literals are read from the pattern's own source (`required_literals`), so the tables stay
plain regexes and cannot drift from their guards; a pattern the reader cannot vouch for (inline flags,
numeric escapes, an alternative without a literal) is searched as before.
"""

from __future__ import annotations

import re

# Shorter literals rule out too little to pay for the test: "a" is in nearly every line.
MIN_LITERAL = 3
# Escapes whose argument follows as more characters (\x41, \u00e9, \N{...}, \0, backreferences): the reader
# gives up on the pattern rather than mistake the argument for literals.
_ESCAPES_WITH_ARGUMENTS = frozenset("xuUN0123456789")
# Inline flags at the pattern's start change what a literal matches (i: case, x: whitespace and comments).
_GLOBAL_FLAGS = frozenset("aiLmsux")
_QUANTIFIER = re.compile(r"\{(?:\d+(?:,\d*)?|,\d+)\}")  # {m} {m,} {m,n} {,n}: anything else is a literal "{"


def required_literals(source: str) -> tuple[str, ...] | None:
    """For each top-level alternative of `source`, its longest run of literal characters outside any group,
    class or quantifier: every match of the alternative contains it. None when an alternative has no such
    run of MIN_LITERAL characters, or when the pattern uses syntax this reader does not take apart."""
    if source.startswith("(?") and source[2:3] in _GLOBAL_FLAGS:
        return None
    literals = []
    for alternative in _top_level_alternatives(source):
        runs = _literal_runs(alternative)
        if runs is None:
            return None
        longest = max(runs, key=len, default="")
        if len(longest) < MIN_LITERAL:
            return None
        literals.append(longest)
    return tuple(dict.fromkeys(literals))


def _top_level_alternatives(source: str) -> list[str]:
    parts, start, i = [], 0, 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char in "([":
            i = _skip_group(source, i) if char == "(" else _skip_class(source, i)
            continue
        if char == "|":
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    return parts


def _literal_runs(alternative: str) -> list[str] | None:
    """The runs of consecutive literal characters at depth 0; None for syntax this reader does not take apart."""
    runs: list[str] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    i = 0
    while i < len(alternative):
        char = alternative[i]
        if char == "\\":
            escaped = alternative[i + 1:i + 2]
            if not escaped or escaped in _ESCAPES_WITH_ARGUMENTS:
                return None
            if escaped.isalnum():  # \d \w \s \b \A \Z \n ...: a class or an assertion, not a literal
                end_run()
            else:
                run.append(escaped)
            i += 2
            continue
        quantifier = _QUANTIFIER.match(alternative, i) if char == "{" else None
        if char in "*+?" or quantifier:
            if run:
                run.pop()  # the quantified character may be absent (or repeated): not part of a fixed run
            end_run()
            i = quantifier.end() if quantifier else i + 1
            continue
        if char in "([.^$":
            end_run()
            if char == "(":
                i = _skip_group(alternative, i)
            elif char == "[":
                i = _skip_class(alternative, i)
            else:
                i += 1
            continue
        run.append(char)
        i += 1
    end_run()
    return runs


def _skip_group(source: str, start: int) -> int:
    """The index after the ")" closing the group opened at `start` (escapes and classes inside skipped)."""
    depth, i = 0, start
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _skip_class(source, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _skip_class(source: str, start: int) -> int:
    """The index after the "]" closing the class opened at `start` ("]" first in a class is a member)."""
    i = start + 1
    if source[i:i + 1] == "^":
        i += 1
    if source[i:i + 1] == "]":
        i += 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == "]":
            return i + 1
        i += 1
    return i


class GuardedPattern:
    """A regex of a rule table: compiled when first needed, and `search` answers None at once for text that
    holds none of its required literals (which no match can lack)."""

    __slots__ = ("_compiled", "flags", "literals", "source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self.flags = flags
        # re.IGNORECASE and re.VERBOSE change what a literal matches: such a pattern is always searched.
        plain = not flags & (re.IGNORECASE | re.VERBOSE)
        self.literals = required_literals(source) if plain else None
        self._compiled: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source, self.flags)
        return self._compiled

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def may_match(self, text: str) -> bool:
        return self.literals is None or any(literal in text for literal in self.literals)

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text) if self.may_match(text) else None

    def __repr__(self) -> str:
        return f"GuardedPattern({self.source!r})"
