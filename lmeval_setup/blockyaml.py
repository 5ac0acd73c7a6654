"""The plain block YAML that kubectl and oc write (a kubeconfig), read without importing PyYAML.

Importing PyYAML costs a cold `doctor -n NS` ~6-9 ms of CPU (its pure-Python reader, scanner, parser and
resolver modules and their regexes, though libyaml parses), for a kubeconfig of a few dozen lines. This
reads only a strict subset: block mappings and sequences indented with spaces, keys that are plain words,
and values that are plain words whose type cannot be anything but a string (or `true`/`false`),
single- or double-quoted strings on one line without escapes, `{}` and `[]`. Anything else (anchors,
tags, flow collections, multi-line or escaped scalars, numbers, null words, comments after a value, tabs,
non-ASCII text, a file larger than a kubeconfig needs) answers None, and the caller reads the text with
PyYAML (safeio) as before: what is accepted gives exactly what safeio.load_yaml gives
(tests/unit/test_blockyaml.py compares both on generated documents).
"""

from __future__ import annotations

from typing import Any

# Beyond these the document is not a kubeconfig kubectl wrote: PyYAML (and safeio's limits) decide.
MAX_LINES = 5_000
MAX_DEPTH = 32
# A plain value starting with one of these and made of _PLAIN_CHARS is a string for YAML 1.1 (PyYAML's
# resolvers: ints, floats and timestamps start with a digit, a sign or a dot; merge is "<<", value "=")...
_FIRST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/")
_PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@+=~-")
# ...unless it is one of the bool or null words, in any case (only exact true/false are read here).
_SPECIAL_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "null", "y", "n"})
_BOOLS = {"true": True, "false": False}


class _NotSimple(Exception):
    """The text leaves the subset: the caller falls back to PyYAML."""


def load_block_mapping(text: str) -> dict[str, Any] | None:
    """The document as safeio.load_yaml would give it, when it is a block mapping of the subset; else None."""
    try:
        lines = _lines(text)
        if not lines:
            raise _NotSimple
        value, end = _node(lines, 0, lines[0][0], 0)
        if end != len(lines) or not isinstance(value, dict):
            raise _NotSimple
        return value
    except _NotSimple:
        return None


def _lines(text: str) -> list[tuple[int, str]]:
    """(indent, content) of each line that holds something; a "- x" line becomes "-" and "x" one column in,
    the way YAML nests a sequence item's content."""
    # Printable ASCII only: PyYAML refuses control characters, and tabs and CRs have rules of their own.
    if not text.isascii() or not text.replace("\n", "").isprintable():
        raise _NotSimple
    out: list[tuple[int, str]] = []
    for raw in text.split("\n"):
        content = raw.strip(" ")
        if not content or content.startswith("#"):
            continue
        if content.startswith(("---", "...", "%")):
            raise _NotSimple
        indent = len(raw) - len(raw.lstrip(" "))
        while content == "-" or content.startswith("- "):
            out.append((indent, "-"))
            rest = content[1:]
            content = rest.lstrip(" ")
            indent += 1 + len(rest) - len(content)
            if not content:
                break
        if content:
            out.append((indent, content))
        if len(out) > MAX_LINES:
            raise _NotSimple
    return out


def _node(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[Any, int]:
    """The block starting at line i, whose lines are at `indent`: (its value, the line after it)."""
    if depth > MAX_DEPTH:
        raise _NotSimple
    content = lines[i][1]
    if content == "-":
        return _sequence(lines, i, indent, depth)
    if content[0] in "\"'" or ":" not in content:
        return _single_line_scalar(lines, i, indent)
    return _mapping(lines, i, indent, depth)


def _single_line_scalar(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    """A scalar on a line of its own (a sequence item's, or a key's on the next line); the line after it must
    be further out, else the scalar continues there (a multi-line plain scalar)."""
    if i + 1 < len(lines) and lines[i + 1][0] >= indent:
        raise _NotSimple
    return _scalar(lines[i][1]), i + 1


def _sequence(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i] == (indent, "-"):
        value, i = _nested(lines, i + 1, indent, depth, same_indent_sequence=False)
        items.append(value)
    return items, i


def _mapping(lines: list[tuple[int, str]], i: int, indent: int, depth: int) -> tuple[dict[str, Any], int]:
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent and lines[i][1] != "-":
        key, separator, rest = lines[i][1].partition(":")
        if not separator or (rest and not rest.startswith(" ")) or not _is_plain_string(key):
            raise _NotSimple
        rest = rest.strip(" ")
        if rest:
            mapping[key] = _scalar(rest)
            i += 1
        else:
            mapping[key], i = _nested(lines, i + 1, indent, depth, same_indent_sequence=True)
    return mapping, i


def _nested(lines: list[tuple[int, str]], i: int, indent: int, depth: int, *,
            same_indent_sequence: bool) -> tuple[Any, int]:
    """The value of a key or a sequence item with nothing after it: a block further in, a sequence at the
    key's own indent (YAML lets a mapping's value be one: kubectl writes `clusters:` then `- cluster:`),
    or null."""
    if i < len(lines):
        next_indent, content = lines[i]
        if next_indent > indent or (same_indent_sequence and next_indent == indent and content == "-"):
            return _node(lines, i, next_indent, depth + 1)
    return None, i


def _scalar(text: str) -> Any:
    if text in ("{}", "[]"):
        return {} if text == "{}" else []
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"' or '"' in text[1:-1] or "\\" in text:
            raise _NotSimple
        return text[1:-1]
    if text[0] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise _NotSimple
        return inner.replace("''", "'")
    if text in _BOOLS:
        return _BOOLS[text]
    if not _is_plain_string(text):
        raise _NotSimple
    return text


def _is_plain_string(text: str) -> bool:
    """A plain scalar that YAML 1.1 (PyYAML) reads as this very string."""
    return (text[:1] in _FIRST_CHARS and all(c in _PLAIN_CHARS for c in text) and not text.endswith(":")
            and text.lower() not in _SPECIAL_WORDS)
