"""The Snapshot: the doctor's only input, built live (collect.py) or from a directory (offline.py).

Objects are kept by (group, plural, namespace, name); the API version is ignored on lookup because a
must-gather stores whatever version `oc` preferred (a DSC may be v1 or v2) and detect() asks by group.
A Snapshot also records which collections it holds (`collected`): absence of an object only means
"does not exist" for a collection that was collected, so a must-gather without CRDs does not claim that
KServe is missing. It implements platform.detect's ObjectSource protocol, so `detect(snapshot)` works
offline exactly as it does live.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]
ObjectKey = tuple[str, str, str, str]  # group, plural, namespace ("" = cluster-scoped), name
CollectionKey = tuple[str, str, str]  # group, plural, namespace ("" = cluster-scoped, "*" = all namespaces)
LogKey = tuple[str, str, str]  # namespace, pod, container

SNAPSHOT_META_FILE = "lmeval-setup-snapshot.yaml"
# The note collect() leaves when the identity may not read the cluster layer (HTTP 403). It travels in the
# notes of a --collect directory, so --from-dir reports LME111 exactly as the live run did.
CLUSTER_UNREADABLE_NOTE = "cluster layer not readable with these credentials"


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def version_of(api_version: str) -> str:
    return api_version.split("/")[-1]


@dataclass
class Snapshot:
    objects: dict[ObjectKey, JSON] = field(default_factory=dict)
    logs: dict[LogKey, str] = field(default_factory=dict)
    _: KW_ONLY
    served: dict[str, list[str]] = field(default_factory=dict)  # API group -> served versions, preferred first
    collected: set[CollectionKey] = field(default_factory=set)
    absent: set[ObjectKey] = field(default_factory=set)  # looked up by name and not found
    collected_at: datetime | None = None
    scope: JSON = field(default_factory=dict)  # namespaces / job the snapshot was taken for
    notes: list[str] = field(default_factory=list)  # what could not be collected (shown as report errors)
    # (group, plural) -> namespace -> names: list() and events_for() stay O(result), not O(snapshot),
    # which matters with thousands of jobs (one lookup per job).
    _index: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict, repr=False, compare=False)
    _events: dict[tuple[str, str, str], list[JSON]] | None = field(default=None, repr=False, compare=False)

    # -- building ------------------------------------------------------------------------------------
    def add(self, group: str, plural: str, obj: JSON) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name", "")
        self.objects[(group, plural, ns, name)] = obj
        self._index.setdefault((group, plural), {}).setdefault(ns, set()).add(name)
        if plural == "events":
            self._events = None

    def add_all(self, group: str, plural: str, objs: Iterable[JSON], namespace: str | None) -> None:
        for obj in objs:
            self.add(group, plural, obj)
        self.mark_collected(group, plural, namespace)

    def mark_collected(self, group: str, plural: str, namespace: str | None) -> None:
        self.collected.add((group, plural, "*" if namespace is None else namespace))

    def known(self, group: str, plural: str, name: str, namespace: str | None = None) -> bool:
        """Do we know whether this one object exists (present, looked up and absent, or list collected)?"""
        key = (group, plural, namespace or "", name)
        return key in self.objects or key in self.absent or self.knows(group, plural, namespace)

    def knows(self, group: str, plural: str, namespace: str | None = None) -> bool:
        """Was this collection collected (so a missing object really is missing)?"""
        if (group, plural, "*") in self.collected:
            return True
        return (group, plural, namespace or "") in self.collected

    # -- ObjectSource protocol (platform.detect) -------------------------------------------------------
    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        return self.objects.get((group, plural, namespace or "", name))

    def list(
        self, group: str, version: str, plural: str, namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JSON]:
        by_ns = self._index.get((group, plural), {})
        # The doctor asks every job's namespace for its PVCs and Workloads, and most have none.
        nothing = not by_ns if namespace is None else not by_ns.get(namespace)
        if nothing:
            return []
        wanted = _parse_selector(label_selector)
        namespaces = sorted(by_ns) if namespace is None else [namespace]
        out = []
        for ns in namespaces:
            for name in sorted(by_ns.get(ns, ())):
                obj = self.objects[(group, plural, ns, name)]
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if all(labels.get(k) == v for k, v in wanted.items()):
                    out.append(obj)
        return out

    def served_versions(self, group: str) -> builtins.list[str]:
        if group in self.served:
            return list(self.served[group])
        return self._versions_from_objects(group)

    def _versions_from_objects(self, group: str) -> builtins.list[str]:
        """Offline fallback: the CRD's served versions (storage first), else the versions objects carry."""
        for (g, p, _, _), crd in self.objects.items():
            if g != "apiextensions.k8s.io" or p != "customresourcedefinitions":
                continue
            spec = crd.get("spec") or {}
            if spec.get("group") != group:
                continue
            served = [v for v in spec.get("versions") or [] if v.get("served", True)]
            # kubectl prefers the newest served version; CRD order is oldest first by convention.
            return [str(v["name"]) for v in reversed(served)]
        versions: list[str] = []
        for (g, _, _, _), obj in self.objects.items():
            if g == group:
                version = version_of(str(obj.get("apiVersion", "")))
                if version and version not in versions:
                    versions.append(version)
        return sorted(versions, reverse=True)

    # -- doctor helpers ---------------------------------------------------------------------------------
    def cluster_unreadable(self) -> str | None:
        """Why the cluster layer could not be read (the 403), or None when it could."""
        return next((n for n in self.notes if n.startswith(CLUSTER_UNREADABLE_NOTE)), None)

    def log(self, namespace: str, pod: str, container: str) -> str | None:
        return self.logs.get((namespace, pod, container))

    def events_for(self, namespace: str, kind: str, name: str) -> builtins.list[JSON]:
        if self._events is None:
            self._events = {}
            for obj in self.list("", "v1", "events"):
                involved = obj.get("involvedObject") or obj.get("regarding") or {}
                ns = (obj.get("metadata") or {}).get("namespace") or ""
                key = (ns, str(involved.get("kind")), str(involved.get("name")))
                self._events.setdefault(key, []).append(obj)
        return list(self._events.get((namespace, kind, name), []))


def _parse_selector(selector: str | None) -> dict[str, str]:
    """Equality-based label selectors only ("a=b,c=d"), which is all detect() uses."""
    out: dict[str, str] = {}
    for part in filter(None, (selector or "").split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().lstrip("=")
    return out
