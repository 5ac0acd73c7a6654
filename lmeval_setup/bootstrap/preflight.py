"""Preflight: one SelfSubjectAccessReview per verb the run will use, before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lmeval_setup.kube.access import Access
from lmeval_setup.kube.client import Kube


def missing_access(kube: Kube, wanted: Iterable[Access]) -> list[Access]:
    """The subset of `wanted` the current identity may not do (SSARs need no special permission)."""
    return [a for a in wanted if not kube.can_i(a.verb, a.group, a.resource, a.namespace, a.name)]


def access_from_dicts(items: Iterable[Mapping[str, Any]]) -> list[Access]:
    """The module's `access` list (the plan's required_access, or a hand-written one) as Access."""
    return [_access_from_dict(item) for item in items]


def _access_from_dict(item: Mapping[str, Any]) -> Access:
    # A review without a verb or resource asks nothing the run needs: refused by name, not sent as null.
    missing = [k for k in ("verb", "resource") if not isinstance(item.get(k), str) or not item[k]]
    if missing:
        raise ValueError(f"access entry {dict(item)!r} has no {' or '.join(missing)}")
    return Access(item["verb"], item.get("group") or "", resource=item["resource"],
                  namespace=item.get("namespace"), name=item.get("name"))


def missing_message(missing: list[Access]) -> str:
    listed = "; ".join(a.describe() for a in missing)
    return f"RBAC preflight failed, nothing was written; missing permissions: {listed}"
