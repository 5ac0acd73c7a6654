"""Preflight: one SelfSubjectAccessReview per verb the run will use, before anything is written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lmeval_setup.kube.access import Access
from lmeval_setup.kube.client import Kube


def missing_access(kube: Kube, wanted: Iterable[Access]) -> list[Access]:
    """The subset of `wanted` the current identity may not do (SSARs need no special permission)."""
    return [a for a in wanted if not kube.can_i(a.verb, a.group, a.resource, a.namespace, a.name)]


def access_from_dicts(items: Iterable[dict[str, Any]]) -> list[Access]:
    fields = ("verb", "group", "resource", "namespace", "name")
    return [Access(**{k: item.get(k) for k in fields}) for item in items]


def missing_message(missing: list[Access]) -> str:
    listed = "; ".join(a.describe() for a in missing)
    return f"RBAC preflight failed, nothing was written; missing permissions: {listed}"
