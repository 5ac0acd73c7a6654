"""Positioned YAML loading: each document as plain data plus a path -> (file, line, column) index.

PyYAML's composer (the C one when libyaml is available) gives nodes with start marks; we build the
Python data ourselves from the nodes so the same walk records where every field is. Paths are the
ones spec rules use (`spec.modelArgs[2].value`). Anything wrong with the input (syntax, binary,
too large, alias bombs, recursive anchors) becomes an `InputError` with a position, never a crash.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import yaml

from lmeval_setup import safeio

try:  # the C composer is ~10x faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 5 * safeio.MiB  # a manifest bigger than this is not a hand-written LMEvalJob
MAX_NODES = safeio.YamlLimits.max_nodes  # per document, after alias expansion (defuses "billion laughs")
MAX_DEPTH = safeio.YamlLimits.max_depth
STDIN = safeio.STDIN

Position = tuple[str, int, int]  # file, 1-based line, 1-based column


class InputError(Exception):
    """The file cannot be linted; the message says where and why."""

    def __init__(self, file: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.file, self.line, self.column = file, line, column
        where = ":".join(str(p) for p in (file, line, column) if p is not None)
        super().__init__(f"{where}: {message}")


@dataclass
class Document:
    file: str
    index: int  # 0-based position in a multi-document stream
    _: KW_ONLY
    data: Any
    positions: dict[str, Position] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)  # paths of mapping keys given twice

    def position(self, path: str | None) -> Position:
        """The position of `path`, or of its nearest existing ancestor."""
        candidate = path or ""
        while True:
            if candidate in self.positions:
                return self.positions[candidate]
            if not candidate:
                return (self.file, 1, 1)
            candidate = _parent(candidate)


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def read_source(file: str) -> str:
    """A file (or stdin for '-') as text, through the bounded reader: regular files only, MAX_BYTES."""
    try:
        if file == STDIN:
            return safeio.read_stdin(limit=MAX_BYTES)
        return safeio.read_text(file, limit=MAX_BYTES)
    except safeio.UnreadableInput as exc:
        raise InputError(file, exc.why) from None


def load_documents(file: str, text: str, *, origin_line_offset: int = 0) -> Iterator[Document]:
    """Parse every document of a YAML stream. Raises InputError on syntax errors."""
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                builder = _Builder(file, loader, origin_line_offset)
                data = builder.build(node, "", 0)
                yield from unwrap_lists(Document(file, index, data=data, positions=builder.positions,
                                                 duplicates=builder.duplicates))
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + origin_line_offset if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(file, f"YAML syntax error: {problem}", line, column) from None
    except yaml.YAMLError as exc:
        raise InputError(file, f"YAML error: {str(exc).splitlines()[0] if str(exc) else 'invalid YAML'}") from None
    except RecursionError:
        raise InputError(file, "YAML nesting too deep") from None
    finally:
        loader.dispose()


def is_list(data: Any) -> bool:
    """`kind: List` (kubectl get -o yaml) or a typed list (LMEvalJobList) with an `items` sequence."""
    return (isinstance(data, dict) and isinstance(data.get("items"), list)
            and str(data.get("kind", "")).endswith("List") and "spec" not in data)


def unwrap_lists(document: Document) -> Iterator[Document]:
    """A List document as one Document per item, each with its own positions (paths relative to the item),
    so `kubectl get lmevaljobs -o yaml | lmeval-setup lint -` lints every job at its own line."""
    if not is_list(document.data):
        yield document
        return
    for i, item in enumerate(document.data["items"]):
        prefix = f"items[{i}]"
        positions = {_relative(path, prefix): pos for path, pos in document.positions.items()
                     if path == prefix or path.startswith((prefix + ".", prefix + "["))}
        duplicates = [_relative(path, prefix) for path in document.duplicates if path.startswith(prefix + ".")]
        yield from unwrap_lists(Document(document.file, document.index, data=item, positions=positions,
                                         duplicates=duplicates))


def _relative(path: str, prefix: str) -> str:
    rest = path[len(prefix):]
    return rest[1:] if rest.startswith(".") else rest


class _Builder:
    """Node tree -> Python data, recording positions and guarding against pathological input."""

    def __init__(self, file: str, loader: Any, line_offset: int) -> None:
        self.file = file
        self.loader = loader
        self.line_offset = line_offset
        self.positions: dict[str, Position] = {}
        self.duplicates: list[str] = []
        self.count = 0
        self.active: set[int] = set()  # nodes on the current path: a cycle means a recursive anchor

    def mark(self, node: yaml.Node) -> Position:
        m = node.start_mark
        return (self.file, m.line + 1 + self.line_offset, m.column + 1)

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError(self.file, f"document has more than {MAX_NODES} nodes (alias expansion?)")
        if depth > MAX_DEPTH:
            raise InputError(self.file, "YAML nesting too deep", *self.mark(node)[1:])
        if id(node) in self.active:
            raise InputError(self.file, "recursive YAML anchor", *self.mark(node)[1:])
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    item_path = join(path, i)
                    self.positions.setdefault(item_path, self.mark(item))
                    out.append(self.build(item, item_path, depth + 1))
                return out
            return self.mapping(node, path, depth)  # type: ignore[arg-type]
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.update(self.merge_source(value_node, path, depth))
                continue
            key = self.key(key_node)
            sub = join(path, key)
            if key in out:
                self.duplicates.append(sub)
            # Scalars point at the value (what to change); collections at their key line.
            anchor = value_node if isinstance(value_node, yaml.ScalarNode) and value_node.value != "" else key_node
            self.positions[sub] = self.mark(anchor)
            out[key] = self.build(value_node, sub, depth + 1)
        return {**merged, **out} if merged else out

    def merge_source(self, node: yaml.Node, path: str, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win, as in YAML 1.1 merge
            value = self.build(source, path, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged

    def key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node)
            if isinstance(value, bool):
                return str(value).lower()
            return "null" if value is None else str(value)
        return f"<{type(node).__name__[:-4].lower()} key>"  # a complex key; JSON cannot express it

    def scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value
        except (ValueError, OverflowError):  # e.g. an impossible timestamp
            return node.value
        if isinstance(value, datetime.date | datetime.datetime):
            return value.isoformat()  # kubectl sends timestamps as strings
        if isinstance(value, bytes):
            return node.value
        return value
