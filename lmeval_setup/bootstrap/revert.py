"""Remember and revert: the prior value of every field bootstrap changes, kept on the cluster.

Where: a ConfigMap (`lmeval-setup-revert`) in the applications namespace. It survives TrustyAI being
set to Removed (the platform only garbage-collects what it owns and labels), it is readable with
`oc get cm lmeval-setup-revert -o yaml`, and writing it never touches the DataScienceCluster, whose
admission webhook refuses updates while kueue is Managed on 3.x (an annotation there would not be).

What: one data key per changed field. Only the *first* prior value is kept, so re-running bootstrap
(or five runs racing) never overwrites the original. Writes are guarded by the ConfigMap's
resourceVersion; a conflict means another run recorded first, and we re-read.

A field whose parent did not exist is recorded as the field itself, absent, with how much of its path
was missing (`missingFrom`). Revert deletes that field, and removes an ancestor bootstrap created only
when nothing but bootstrap's own fields is left under it: the object is back byte for byte, and an
annotation somebody else added since (next to ours, in `metadata.annotations` that bootstrap created)
stays. Records written before v2 name the topmost missing ancestor itself and are restored as written.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.kube.access import Access
from lmeval_setup.kube.client import ApiError, Kube, resource_path

JSON = dict[str, Any]
RECORD_NAME = "lmeval-setup-revert"
RECORD_LABELS = {"app.kubernetes.io/managed-by": "lmeval-setup", "app.kubernetes.io/component": "revert-record"}
FORMAT_ANNOTATION = "lmeval-setup.opendatahub.io/revert-format"
FORMAT = ("v2: data key per field; value = JSON {apiVersion, kind, namespace, name, path, present, value, seq, "
          "missingFrom}")
_MISSING = object()


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    _: KW_ONLY
    plural: str
    name: str
    namespace: str | None = None

    @property
    def path(self) -> str:
        group, _, version = self.api_version.rpartition("/")
        return resource_path(group, version, self.plural, self.namespace, self.name)

    def as_dict(self) -> JSON:
        return {"apiVersion": self.api_version, "kind": self.kind, "plural": self.plural,
                "name": self.name, "namespace": self.namespace}

    @classmethod
    def from_dict(cls, data: JSON) -> ObjectRef:
        return cls(data["apiVersion"], data["kind"], plural=data["plural"], name=data["name"],
                   namespace=data.get("namespace"))


@dataclass(frozen=True)
class Entry:
    ref: ObjectRef
    path: tuple[str, ...]
    _: KW_ONLY
    present: bool
    value: Any
    seq: int
    # Absent fields only: the length of the path's topmost missing ancestor (None: the parent existed).
    missing_from: int | None = None

    @property
    def key(self) -> str:
        return entry_key(self.ref, self.path)

    def to_json(self) -> str:
        return json.dumps({**self.ref.as_dict(), "path": list(self.path), "present": self.present,
                           "value": self.value, "seq": self.seq, "missingFrom": self.missing_from}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Entry:
        data = json.loads(text)
        missing_from = data.get("missingFrom")
        return cls(ObjectRef.from_dict(data), tuple(data["path"]), present=bool(data["present"]),
                   value=data.get("value"),
                   seq=int(data.get("seq", 0)), missing_from=int(missing_from) if missing_from is not None else None)

    def inverse_patch(self) -> JSON:
        """The JSON merge patch that puts this field back (null removes what did not exist)."""
        return nest(self.path, self.value if self.present else None)

    def created_ancestors(self) -> list[tuple[str, ...]]:
        """The ancestors bootstrap created with this field, outermost first."""
        if self.present or self.missing_from is None:
            return []
        return [self.path[:depth] for depth in range(self.missing_from, len(self.path))]


def entry_key(ref: ObjectRef, path: tuple[str, ...]) -> str:
    """A ConfigMap data key ([-._a-zA-Z0-9]+, at most 253 chars) naming object and field."""
    raw = ".".join([ref.kind.lower(), ref.namespace or "_", ref.name, *path])
    return re.sub(r"[^-._a-zA-Z0-9]", "_", raw)[:253]


def nest(path: tuple[str, ...], value: Any) -> JSON:
    patch: Any = value
    for part in reversed(path):
        patch = {part: patch}
    return dict(patch)


def leaves(patch: JSON, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) for every scalar a merge patch sets."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in patch.items():
        if isinstance(value, dict) and value:
            out += leaves(value, (*prefix, key))
        else:
            out.append(((*prefix, key), value))
    return out


def lookup(obj: JSON, path: tuple[str, ...]) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def prior_of(live: JSON, path: tuple[str, ...]) -> tuple[bool, Any, int | None]:
    """(present, value, missing_from) of a field: missing_from is the length of its topmost missing
    ancestor's path when the field's parent did not exist (None otherwise)."""
    for depth in range(1, len(path) + 1):
        if lookup(live, path[:depth]) is _MISSING:
            return False, None, (depth if depth < len(path) else None)
    return True, lookup(live, path), None


class RevertStore:
    def __init__(self, kube: Kube, namespace: str, name: str = RECORD_NAME) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name

    @property
    def path(self) -> str:
        return resource_path("", "v1", "configmaps", self.namespace, self.name)

    def read(self) -> JSON | None:
        return self.kube.get_or_none(self.path)

    def entries(self) -> list[Entry]:
        record = self.read() or {}
        return sorted((Entry.from_json(v) for v in (record.get("data") or {}).values()), key=lambda e: e.seq)

    # -- recording ---------------------------------------------------------------------------------
    def record(self, ref: ObjectRef, patch: JSON, *, dry_run: bool = False, attempts: int = 8) -> list[Entry]:
        """Record the prior value of every field `patch` would change; returns the entries added."""
        for _ in range(attempts):
            record = self.read()
            live = self.kube.get_or_none(ref.path)
            if live is None:
                return []  # nothing to change: kubernetes.core's state=patched skips missing objects too
            added = self._new_entries(record, ref, live, patch)
            if not added:
                return []
            try:
                self._write(record, added, dry_run=dry_run)
                return added
            except ApiError as exc:
                if not (exc.conflict or exc.status == 409):
                    raise
                time.sleep(0.05)  # another run recorded first: re-read and keep its (original) values
        raise ApiError(409, "Conflict", f"could not update {self.namespace}/{self.name}: too many conflicts")

    def _new_entries(self, record: JSON | None, ref: ObjectRef, live: JSON, patch: JSON) -> list[Entry]:
        data = (record or {}).get("data") or {}
        seq = len(data)
        added: list[Entry] = []
        for path, value in leaves(patch):
            if lookup(live, path) == value:
                continue  # already as wanted: not a change, nothing to remember
            present, prior, missing_from = prior_of(live, path)
            key = entry_key(ref, path)
            if key in data or any(e.key == key for e in added) or _covered(data, added, ref, path):
                continue  # the first prior value wins
            added.append(Entry(ref, path, present=present, value=prior, seq=seq + len(added),
                               missing_from=missing_from))
        return added

    def _write(self, record: JSON | None, added: list[Entry], *, dry_run: bool) -> None:
        new_data = {e.key: e.to_json() for e in added}
        if record is None:
            body = {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": RECORD_LABELS,
                             "annotations": {FORMAT_ANNOTATION: FORMAT}},
                "data": new_data,
            }
            self.kube.create(resource_path("", "v1", "configmaps", self.namespace), body, dry_run=dry_run)
            return
        # resourceVersion in a merge patch is a precondition: a concurrent writer makes this 409.
        patch = {"metadata": {"resourceVersion": record["metadata"]["resourceVersion"]}, "data": new_data}
        self.kube.merge_patch(self.path, patch, dry_run=dry_run)

    # -- restoring ---------------------------------------------------------------------------------
    def required_access(self, entries: list[Entry] | None = None) -> list[Access]:
        """Every verb restoring this record uses, derived from the entries themselves: read and patch each
        recorded object, delete the record. Checked by preflight before the first write, so partial
        rights stop the revert before it restores half of the fields."""
        entries = self.entries() if entries is None else entries
        access = [Access("get", "", resource="configmaps", namespace=self.namespace, name=self.name)]
        for entry in entries:
            group = entry.ref.api_version.rpartition("/")[0]
            access += [Access("get", group, resource=entry.ref.plural, namespace=entry.ref.namespace,
                              name=entry.ref.name),
                       Access("patch", group, resource=entry.ref.plural, namespace=entry.ref.namespace,
                              name=entry.ref.name)]
        if entries:
            access.append(Access("delete", "", resource="configmaps", namespace=self.namespace, name=self.name))
        return list(dict.fromkeys(access))

    def restore(self, *, dry_run: bool = False) -> list[JSON]:
        """Put every recorded field back, then delete the record; a second call finds nothing to do."""
        entries = self.entries()
        results: list[JSON] = []
        for group in _restore_groups(entries):
            results.append(self._restore_object(group, dry_run=dry_run))
        if entries:
            self.kube.delete(self.path, dry_run=dry_run)
        return results

    def _restore_object(self, group: list[Entry], *, dry_run: bool) -> JSON:
        ref = group[0].ref
        live = self.kube.get_or_none(ref.path)
        result: JSON = {"object": f"{ref.kind}/{ref.name}", "namespace": ref.namespace,
                        "fields": [".".join(e.path) for e in group]}
        if live is None:
            return {**result, "changed": False, "skipped": "object no longer exists"}
        patch = restore_patch(live, group)
        before = {".".join(e.path): _show(lookup(live, e.path)) for e in group}
        after = {".".join(e.path): _show(e.value if e.present else _MISSING) for e in group}
        changed = before != after
        if changed:
            try:
                self.kube.merge_patch(ref.path, patch, dry_run=dry_run)
            except ApiError as exc:
                # Reverting the DSC to Removed makes the platform delete what it deployed, possibly
                # between our read and this patch: a deleted object has nothing left to restore.
                if not exc.not_found:
                    raise
                return {**result, "changed": False, "skipped": "object deleted while reverting"}
        return {**result, "changed": changed, "before": before, "after": after}


def restore_patch(live: JSON, group: list[Entry]) -> JSON:
    """One merge patch putting back every field of `group` on `live`: recorded values are set, fields
    that did not exist are removed, and so is an ancestor bootstrap created, but only when nothing other
    than bootstrap's own removed fields is left under it (others' keys added since stay)."""
    removed = {e.path for e in group if not e.present}
    setters: dict[tuple[str, ...], Any] = {e.path: e.value for e in group if e.present}
    nulls: set[tuple[str, ...]] = set()
    for entry in group:
        if entry.present:
            continue
        target = entry.path
        for ancestor in entry.created_ancestors():
            if _holds_only(lookup(live, ancestor), ancestor, removed):
                target = ancestor
                break
        nulls.add(target)
    # A null on an ancestor already removes its descendants: drop the redundant (and conflicting) ones.
    nulls = {p for p in nulls if not any(p[:len(q)] == q and p != q for q in nulls)}
    patch: JSON = {}
    for path, value in setters.items():
        if not any(path[:len(q)] == q for q in nulls):
            _deep_merge(patch, nest(path, value))
    for path in sorted(nulls, key=len, reverse=True):
        _deep_merge(patch, nest(path, None))
    return patch


def _holds_only(subtree: Any, at: tuple[str, ...], removed: set[tuple[str, ...]]) -> bool:
    """True when every leaf under `subtree` (at path `at`) is one of the fields being removed."""
    if subtree is _MISSING:
        return True
    if not isinstance(subtree, dict):
        return at in removed
    return all(_holds_only(value, (*at, key), removed) for key, value in subtree.items())


def _show(value: Any) -> Any:
    return "<absent>" if value is _MISSING else value


def _covered(data: JSON, added: list[Entry], ref: ObjectRef, path: tuple[str, ...]) -> bool:
    """True when an ancestor of `path` is already recorded as absent (revert removes the whole subtree)."""
    keys = set(data) | {e.key for e in added}
    return any(entry_key(ref, path[:depth]) in keys for depth in range(1, len(path)))


def _restore_groups(entries: list[Entry]) -> list[list[Entry]]:
    """Reverse order of recording, one patch per object; the operator Deployment comes last so the
    rollout that removing our pod-template annotation starts loads the already-restored ConfigMap."""
    ordered = sorted(entries, key=lambda e: (e.ref.kind == "Deployment", -e.seq))
    groups: list[list[Entry]] = []
    for entry in ordered:
        if groups and groups[-1][0].ref == entry.ref:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


def _deep_merge(into: JSON, patch: JSON) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value
