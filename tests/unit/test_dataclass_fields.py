"""Keyword-only dataclasses (issue 18 item 5): a dataclass in lmeval_setup/ takes at most 3 fields by position.

Positional construction of a wide record is how revert once passed its dry_run as diff (RunOptions had ten
positional fields): past the first one or two identity fields, a field is named at the call site
(`_: KW_ONLY`, `@dataclass(kw_only=True)` or `field(kw_only=True)`)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lmeval_setup"
MAX_POSITIONAL = 3


def _name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


def _true(keywords: list[ast.keyword], arg: str) -> bool | None:
    found = [k.value for k in keywords if k.arg == arg]
    return found[0].value if found and isinstance(found[0], ast.Constant) else None  # type: ignore[return-value]


def positional_fields(cls: ast.ClassDef) -> list[str]:
    """The fields of a dataclass that __init__ takes by position, in order ([] for other classes)."""
    decorators = [d for d in cls.decorator_list if _name(d) == "dataclass"]
    if not decorators or any(isinstance(d, ast.Call) and _true(d.keywords, "kw_only") for d in decorators):
        return []
    fields: list[str] = []
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        annotation = ast.unparse(stmt.annotation)
        if annotation.split(".")[-1] == "KW_ONLY":
            break  # every field after the sentinel is keyword-only
        if "ClassVar" in annotation:
            continue
        value = stmt.value
        if isinstance(value, ast.Call) and _name(value) == "field" and (
                _true(value.keywords, "kw_only") or _true(value.keywords, "init") is False):
            continue
        fields.append(stmt.target.id)
    return fields


def wide_dataclasses(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and len(fields := positional_fields(node)) > MAX_POSITIONAL:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}({', '.join(fields)})")
    return found


def test_no_dataclass_takes_more_than_three_fields_by_position() -> None:
    wide = wide_dataclasses(PACKAGE)
    assert not wide, "dataclasses with more than 3 positional fields (add `_: KW_ONLY` after the identity ones):\n" \
        + "\n".join(wide)


def test_the_check_sees_each_way_of_making_fields_keyword_only(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "from dataclasses import KW_ONLY, dataclass, field\n"
        "from typing import ClassVar\n"
        "@dataclass(frozen=True)\nclass Wide:\n    a: int\n    b: int\n    c: int\n    d: int = 0\n"
        "@dataclass\nclass Sentinel:\n    a: int\n    b: int\n    _: KW_ONLY\n    c: int\n    d: int\n"
        "@dataclass(kw_only=True)\nclass AllNamed:\n    a: int\n    b: int\n    c: int\n    d: int\n"
        "@dataclass\nclass PerField:\n    a: int\n    b: int\n    c: int = field(kw_only=True)\n"
        "    d: int = field(default=0, kw_only=True)\n    e: int = field(init=False)\n    f: ClassVar[int] = 1\n"
        "class NotADataclass:\n    a: int\n    b: int\n    c: int\n    d: int\n"
    )
    assert wide_dataclasses(tmp_path / "pkg") == ["pkg/m.py:4 Wide(a, b, c, d)"]
