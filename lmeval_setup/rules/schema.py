"""Structural validation of an LMEvalJob against the CRD's OpenAPI schema (as the API server does).

The schema is lmevaljob_schema.json, generated from the upstream CRD by
tools/gen_lmevaljob_schema.py. Violations are yielded as plain `SchemaIssue`s; spec.py turns them
into Findings (LME015 wrong type / enum / pattern / required, LME016 string template, LME017
unknown field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass
from functools import cache
from typing import Any, Literal

IssueKind = Literal["type", "enum", "pattern", "required", "unknown", "maxLength"]

# ObjectMeta is not in the CRD's schema (the API server validates it itself); these are its fields.
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})
TOP_LEVEL_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})


@dataclass(frozen=True)
class SchemaIssue:
    kind: IssueKind
    path: str
    _: KW_ONLY
    message: str
    value: Any = None
    expected: str = ""


@cache
def crd_schema() -> dict[str, Any]:
    """The generated schema document: {group, version, kind, schema}."""
    # pkgutil reads it through the package's loader (a zip install works too) without importing
    # importlib.resources, whose tempfile, shutil and zipfile cost a cold `doctor` ~5 ms.
    import pkgutil

    data = pkgutil.get_data("lmeval_setup.rules", "lmevaljob_schema.json")
    if data is None:  # a loader that cannot read package data
        raise FileNotFoundError("lmeval_setup/rules/lmevaljob_schema.json")
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd_schema()["schema"]
    return schema


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    expected = schema.get("type")
    if expected is None:
        return True
    actual = type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def _expected(schema: dict[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "integer or string"
    return str(schema.get("type", "any"))


def validate(doc: Any) -> Iterator[SchemaIssue]:
    """Every schema violation in a whole LMEvalJob document (apiVersion/kind/metadata/spec/status)."""
    if not isinstance(doc, dict):
        yield SchemaIssue("type", "", message=f"the document is {type_name(doc)}, not an object", value=doc,
                          expected="object")
        return
    for key in doc:
        if key not in TOP_LEVEL_FIELDS:
            yield SchemaIssue("unknown", join("", str(key)), message=f"unknown top-level field {key!r}", value=doc[key])
    meta = doc.get("metadata")
    if meta is not None:
        yield from _validate_metadata(meta)
    schema = root_schema()
    for key in ("spec", "status"):
        if key in doc and doc[key] is not None:
            yield from validate_node(doc[key], schema["properties"][key], key)
    if doc.get("spec") is None:
        yield SchemaIssue("required", "spec", message="spec is missing", value=None, expected="object")


def validate_metadata_and_status(doc: dict[str, Any]) -> Iterator[SchemaIssue]:
    """What validate(doc) yields for the document's metadata and status, without walking its spec (the
    doctor's spec cache checks these parts of every job, and shares the spec's findings)."""
    meta = doc.get("metadata")
    if meta is not None:
        yield from _validate_metadata(meta)
    status = doc.get("status")
    if status is not None:
        yield from validate_node(status, root_schema()["properties"]["status"], "status")


def _validate_metadata(meta: Any) -> Iterator[SchemaIssue]:
    if not isinstance(meta, dict):
        yield SchemaIssue("type", "metadata", message=f"metadata must be an object, not {type_name(meta)}", value=meta,
                          expected="object")
        return
    for key, value in meta.items():
        if key not in OBJECT_META_FIELDS:
            yield SchemaIssue("unknown", join("metadata", str(key)), message=f"unknown metadata field {key!r}",
                              value=value)
        elif key in ("name", "namespace", "generateName") and not isinstance(value, str):
            yield SchemaIssue("type", join("metadata", str(key)), message=f"must be a string, not {type_name(value)}",
                              value=value, expected="string")
        elif key in ("labels", "annotations"):
            yield from _validate_string_map(value, join("metadata", str(key)))


def _validate_string_map(value: Any, path: str) -> Iterator[SchemaIssue]:
    if value is None:
        return
    if not isinstance(value, dict):
        yield SchemaIssue("type", path, message=f"must be a map of strings, not {type_name(value)}", value=value,
                          expected="object")
        return
    for k, v in value.items():
        if not isinstance(v, str):
            yield SchemaIssue(
                "type", join(path, str(k)), message=f"must be a string, not {type_name(v)} (quote it)", value=v,
                expected="string"
            )


def validate_node(value: Any, schema: dict[str, Any], path: str) -> Iterator[SchemaIssue]:
    # The API server prunes nulls of non-nullable fields before validation: treat them as absent.
    if value is None:
        return
    if not _type_ok(value, schema):
        expected = _expected(schema)
        yield SchemaIssue(
            "type", path, message=f"must be of type {expected}, not {type_name(value)}", value=value, expected=expected
        )
        return
    if isinstance(value, str):
        yield from _validate_string(value, schema, path)
    elif isinstance(value, dict):
        yield from _validate_object(value, schema, path)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from validate_node(item, schema["items"], join(path, i))


def _validate_string(value: str, schema: dict[str, Any], path: str) -> Iterator[SchemaIssue]:
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        yield SchemaIssue("enum", path, message=f"unsupported value {value!r}", value=value,
                          expected=", ".join(map(str, enum)))
    pattern = schema.get("pattern")
    if pattern is not None and not _compiled(pattern).search(value):
        yield SchemaIssue("pattern", path, message=f"{value!r} does not match {pattern}", value=value, expected=pattern)
    max_length = schema.get("maxLength")
    if max_length is not None and len(value) > max_length:
        yield SchemaIssue("maxLength", path, message=f"longer than {max_length} characters", value=value,
                          expected=str(max_length))


def _plain_string_ok(value: Any, schema: dict[str, Any]) -> bool:
    """A string where the schema wants one and checks nothing else: nothing to report, settled without
    building its path or walking into it (most leaves of a job are such strings)."""
    return (type(value) is str and schema.get("type") == "string" and "enum" not in schema
            and "pattern" not in schema and "maxLength" not in schema)


def _validate_object(value: dict[Any, Any], schema: dict[str, Any], path: str) -> Iterator[SchemaIssue]:
    properties: dict[str, Any] | None = schema.get("properties")
    extra = schema.get("additionalProperties")
    for name in schema.get("required", ()):
        if value.get(name) is None:
            yield SchemaIssue("required", join(path, name), message=f"required field {name!r} is missing")
    for key, sub in value.items():
        if properties is not None and key in properties:
            sub_schema = properties[key]
        elif isinstance(extra, dict):
            sub_schema = extra
        elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
            continue
        elif properties is not None or extra is False:
            yield SchemaIssue("unknown", join(path, str(key)), message=f"unknown field {key!r}", value=sub)
            continue
        else:
            continue
        if not _plain_string_ok(sub, sub_schema):
            yield from validate_node(sub, sub_schema, join(path, str(key)))
        # An object without properties is free-form (e.g. metadata in the CRD): nothing to check.


@cache
def known_paths() -> dict[str, tuple[str, ...]]:
    """field name -> the generic paths where the CRD has it (for 'did you mean' on unknown fields)."""
    found: dict[str, list[str]] = {}

    def walk(schema: dict[str, Any], path: str) -> None:
        for name, sub in (schema.get("properties") or {}).items():
            sub_path = join(path, name)
            found.setdefault(name, []).append(sub_path)
            walk(sub, sub_path)
        items = schema.get("items")
        if isinstance(items, dict):
            walk(items, path + "[]")

    walk(root_schema()["properties"]["spec"], "spec")
    return {name: tuple(paths) for name, paths in found.items()}


def schema_at(generic_path: str) -> dict[str, Any] | None:
    """The schema node for a generic path like 'spec.modelArgs[].value' (None if unknown)."""
    node: dict[str, Any] | None = root_schema()
    for part in re.findall(r"[^.\[\]]+|\[\]", generic_path):
        if node is None:
            return None
        node = node.get("items") if part == "[]" else (node.get("properties") or {}).get(part)
    return node
