"""Tiny builders for OpenAPI v3 structural schemas, so the CRDs read like the Go types they mirror."""

from __future__ import annotations

from typing import Any, Literal

Schema = dict[str, Any]


def string(*, enum: list[str] | tuple[str, ...] | None = None, default: str | None = None,
           pattern: str | None = None, max_length: int | None = None, fmt: str | None = None) -> Schema:
    out: Schema = {"type": "string"}
    if enum is not None:
        out["enum"] = list(enum)
    if default is not None:
        out["default"] = default
    if pattern is not None:
        out["pattern"] = pattern
    if max_length is not None:
        out["maxLength"] = max_length
    if fmt is not None:
        out["format"] = fmt
    return out


def boolean(default: bool | None = None) -> Schema:
    return {"type": "boolean"} if default is None else {"type": "boolean", "default": default}


def integer(fmt: str | None = None, minimum: int | None = None) -> Schema:
    out: Schema = {"type": "integer"}
    if fmt:
        out["format"] = fmt
    if minimum is not None:
        out["minimum"] = minimum
    return out


def obj(properties: dict[str, Schema] | None = None, *, required: list[str] | None = None,
        validations: list[dict[str, str]] | None = None, map_type: Literal["atomic", "granular"] | None = None,
        **extra: Any) -> Schema:
    out: Schema = {"type": "object"}
    if properties is not None:
        out["properties"] = properties
    if required:
        out["required"] = required
    if validations:
        out["x-kubernetes-validations"] = validations
    if map_type is not None:  # a keyword, not **{"x-kubernetes-map-type": ...}, so its type is checked
        out["x-kubernetes-map-type"] = map_type
    out.update(extra)
    return out


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def free_form() -> Schema:
    """A subtree we do not model (Kubernetes core types such as EnvVar or Affinity): kept as sent."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def string_map() -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def crd(group: str, kind: str, plural: str, scope: str, versions: list[Schema], *,
        short_names: list[str] | None = None) -> Schema:
    names: Schema = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"lmeval-setup.sandbox/crd": "true"}},
        "spec": {"group": group, "names": names, "scope": scope, "versions": versions},
    }


def version(name: str, root: Schema, *, storage: bool, status: bool = True,
            columns: list[Schema] | None = None) -> Schema:
    out: Schema = {"name": name, "served": True, "storage": storage, "schema": {"openAPIV3Schema": root}}
    if status:
        out["subresources"] = {"status": {}}
    if columns:
        out["additionalPrinterColumns"] = columns
    return out
