"""JSON or YAML of one report document: every command that has `-o json` has `-o yaml` with the same data."""

from __future__ import annotations

import json
from typing import Any

STRUCTURED_FORMATS = ("json", "yaml")


def dump(data: Any, fmt: str) -> str:
    """The document as JSON (indented, as before) or YAML (block style, keys in document order)."""
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True))
    return json.dumps(data, indent=2) + "\n"
