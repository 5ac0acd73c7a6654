"""Validate a command's -o json / -o yaml document against the JSON Schemas shipped in docs/schemas/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    docs = {p.name: json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))}
    # Schemas refer to each other by file name (provision embeds findings and results items).
    registry = Registry().with_resources(
        (name, Resource.from_contents(doc)) for name, doc in docs.items()
    ).with_resources((doc["$id"], Resource.from_contents(doc)) for doc in docs.values())
    out = {}
    for name, doc in docs.items():
        Draft202012Validator.check_schema(doc)
        out[name.removesuffix(".schema.json")] = Draft202012Validator(doc, registry=registry)
    return out


def schema_names() -> list[str]:
    return sorted(_validators())


def validate(document: Any, schema: str) -> None:
    """Raise AssertionError listing every violation (not only the first)."""
    errors = sorted(_validators()[schema].iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:20]]
        raise AssertionError(f"{schema}.schema.json: {len(errors)} violation(s)\n" + "\n".join(lines))
