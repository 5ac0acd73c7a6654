#!/usr/bin/env python3
"""Generate lmeval_setup/rules/lmevaljob_schema.json from an upstream LMEvalJob CRD.

The lint needs the CRD's structural schema (field names, types, enums, patterns, required) at run
time without network or kubectl. This keeps only those keywords (descriptions are dropped, which
makes it ~10x smaller) and records where it came from. Re-run it when the operator's CRD changes:

    python tools/gen_lmevaljob_schema.py path/to/trustyai.opendatahub.io_lmevaljobs.yaml

The CRD is config/components/lmes/crd/trustyai.opendatahub.io_lmevaljobs.yaml in
github.com/trustyai-explainability/trustyai-service-operator. tests/unit/test_spec_rules.py checks
that the shipped file equals what this script produces from ../shared's copy of the CRD.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

KEEP = (
    "type", "enum", "pattern", "maxLength", "minLength", "maximum", "minimum", "format", "required",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
)
OUT = Path(__file__).resolve().parent.parent / "lmeval_setup" / "rules" / "lmevaljob_schema.json"


def compact(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: node[k] for k in KEEP if k in node}
    if "properties" in node:
        out["properties"] = {name: compact(sub) for name, sub in sorted(node["properties"].items())}
    if isinstance(node.get("items"), dict):
        out["items"] = compact(node["items"])
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = compact(extra)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    if "anyOf" in node:
        out["anyOf"] = [compact(sub) for sub in node["anyOf"]]
    return out


def schema_from_crd(crd_text: str) -> dict[str, Any]:
    crd = next(d for d in yaml.safe_load_all(crd_text) if d and d.get("kind") == "CustomResourceDefinition")
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    return {
        "group": crd["spec"]["group"],
        "version": version["name"],
        "kind": crd["spec"]["names"]["kind"],
        "schema": compact(version["schema"]["openAPIV3Schema"]),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = schema_from_crd(Path(argv[1]).read_text())
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
