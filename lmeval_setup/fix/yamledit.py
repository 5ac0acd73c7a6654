"""Edit YAML files in place at the positions lint knows, keeping everything else byte for byte.

A change is addressed by the position of the value it replaces (or of the collection it adds to), as the
lint loader recorded it: for a kustomize build that is the file and line where the value was set (the
base, or the patch that overrode it). Each affected document is cut out of its file by the parser's marks,
edited with ruamel.yaml's round-trip loader (comments, key order, quoting and flow style survive) and put
back; documents and bytes around it are never touched. A document that ruamel.yaml cannot reproduce
unchanged is not rewritten at all (the change is reported as manual instead).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

Position = tuple[int, int]  # 1-based line, 1-based column, as the lint loader records them
# Indentation styles tried, most common first: (mapping, sequence, offset).
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (2, 4, 4), (4, 4, 0))


class NotEditable(Exception):
    """The change cannot be made without reformatting or guessing; the message says why."""


@dataclass(frozen=True)
class Edit:
    """Set the value at `at`, or (when `key` is given) add `key: value` to the mapping / sequence at `at`."""

    at: Position
    value: Any
    add: str | None = None  # "key" (add to a mapping) or "item" (append to a sequence); None: replace


def apply_edits(text: str, edits: list[Edit]) -> str:
    """`text` with every edit made; raises NotEditable when one cannot be made faithfully."""
    chunks = list(_documents(text))
    by_chunk: dict[int, list[Edit]] = {}
    for edit in edits:
        index = next((i for i, (start, end, first_line) in enumerate(chunks)
                      if first_line <= edit.at[0] <= first_line + text.count("\n", start, end)), None)
        if index is None:
            raise NotEditable(f"line {edit.at[0]} is not inside a YAML document")
        by_chunk.setdefault(index, []).append(edit)
    out = text
    for index in sorted(by_chunk, reverse=True):  # back to front: earlier offsets stay valid
        start, end, first_line = chunks[index]
        out = out[:start] + _edit_document(out[start:end], first_line, by_chunk[index]) + out[end:]
    return out


def _documents(text: str) -> Iterator[tuple[int, int, int]]:
    """(start offset, end offset, first line) of each document's root node."""
    for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if node is not None:
            yield node.start_mark.index, node.end_mark.index, node.start_mark.line + 1


def _edit_document(chunk: str, first_line: int, edits: list[Edit]) -> str:
    yaml_rt = _faithful_loader(chunk)
    doc = yaml_rt.load(chunk)
    for edit in edits:
        _apply(doc, (edit.at[0] - first_line, edit.at[1] - 1), edit)
    out = io.StringIO()
    yaml_rt.dump(doc, out)
    return _same_ending(chunk, out.getvalue())


def _faithful_loader(chunk: str) -> YAML:
    for mapping, sequence, offset in _INDENTS:
        candidate = YAML()
        candidate.preserve_quotes = True
        candidate.width = 1 << 16
        candidate.indent(mapping=mapping, sequence=sequence, offset=offset)
        out = io.StringIO()
        candidate.dump(candidate.load(chunk), out)
        if _same_ending(chunk, out.getvalue()) == chunk:
            return candidate
    raise NotEditable("the document cannot be rewritten without reformatting it")


def _same_ending(original: str, dumped: str) -> str:
    """ruamel.yaml ends a dump with one newline; keep the original's ending instead."""
    body = dumped.rstrip("\n")
    tail = original[len(original.rstrip("\n")):]
    return body + tail


def _apply(doc: Any, at: Position, edit: Edit) -> None:
    line, column = at  # 0-based within the chunk
    for container, key, kind in _walk(doc):
        pos = _position(container, key, kind)
        if pos != (line, column):
            continue
        if edit.add is None and kind == "value":
            old = container[key]
            container[key] = _styled(edit.value, old)
            _keep_comment_gap(container, key, old, container[key])
            return
        if edit.add is None and kind == "key" and isinstance(container[key], CommentedMap | CommentedSeq):
            container[key] = edit.value  # a whole collection replaced (addressed by its key)
            return
        if edit.add is not None and kind in ("key", "item"):
            target = container[key]
            _add(target, edit)
            return
    raise NotEditable(f"nothing editable at line {line + 1}, column {column + 1} (set by an inline patch?)")


def _keep_comment_gap(container: Any, key: Any, old: Any, new: Any) -> None:
    """A comment after the value stays as far from it as before (ruamel.yaml keeps its column instead)."""
    try:
        entry = container.ca.items.get(key)
    except AttributeError:
        return
    comment = entry[2] if entry and len(entry) > 2 else None
    if comment is None or not hasattr(comment, "column"):
        return
    comment.column = max(0, comment.column + _width(new) - _width(old))


def _width(value: Any) -> int:
    quoted = isinstance(value, DoubleQuotedScalarString | SingleQuotedScalarString)
    text = value if isinstance(value, str) else yaml.safe_dump(value).split("\n")[0].removesuffix("...").strip()
    return len(str(text)) + (2 if quoted else 0)


def _walk(node: Any) -> Iterator[tuple[Any, Any, str]]:
    if isinstance(node, CommentedMap):
        for key in node:
            yield node, key, "key"
            yield node, key, "value"
            yield from _walk(node[key])
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            yield node, i, "item"
            yield from _walk(item)


def _position(container: Any, key: Any, kind: str) -> Position | None:
    try:
        if kind == "key":
            return tuple(container.lc.key(key))  # type: ignore[return-value]
        if kind == "value":
            if isinstance(container[key], CommentedMap | CommentedSeq):
                return None  # collections are addressed by their key
            return tuple(container.lc.value(key))  # type: ignore[return-value]
        return tuple(container.lc.item(key))  # type: ignore[return-value]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _add(target: Any, edit: Edit) -> None:
    if edit.add == "item" and isinstance(target, CommentedSeq):
        target.append(_like_siblings(edit.value, target))
    elif edit.add not in (None, "item") and isinstance(target, CommentedMap):
        target[edit.add] = _plain_or_quoted(edit.value, None)
    else:
        raise NotEditable("the place to add to is not a mapping or list")


def _like_siblings(value: Any, seq: CommentedSeq) -> Any:
    """A new list entry written as the others are: flow or block style, the same quoting."""
    if not isinstance(value, dict):
        return value
    sibling = next((s for s in reversed(seq) if isinstance(s, CommentedMap)), None)
    entry = CommentedMap()
    for k, v in value.items():
        like = sibling.get(k) if sibling is not None else None
        entry[k] = _plain_or_quoted(v, like)
    if sibling is not None and sibling.fa.flow_style():
        entry.fa.set_flow_style()
    return entry


def _styled(value: Any, old: Any) -> Any:
    """The new value in the old one's quoting style."""
    if isinstance(value, str):
        if isinstance(old, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(value)
        if isinstance(old, SingleQuotedScalarString):
            return SingleQuotedScalarString(value)
        return _plain_or_quoted(value, None)
    return value


def _plain_or_quoted(value: Any, like: Any) -> Any:
    """A string that would not read back as a string plain ("300", "true") is quoted like its neighbour."""
    if not isinstance(value, str):
        return value
    if isinstance(like, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(value) if _needs_quotes(value) or _quoted_always(like) else value
    if _needs_quotes(value):
        return DoubleQuotedScalarString(value) if isinstance(like, DoubleQuotedScalarString) else \
            SingleQuotedScalarString(value)
    return value


def _quoted_always(like: Any) -> bool:
    return isinstance(like, DoubleQuotedScalarString) and not _needs_quotes(str(like))


def _needs_quotes(value: str) -> bool:
    return not isinstance(yaml.safe_load(value) if value else "", str) or value == ""
