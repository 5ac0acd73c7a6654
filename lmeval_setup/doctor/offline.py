"""Offline: read an `oc adm inspect` / `oc adm must-gather` tree (or our `--collect` output) into a Snapshot.

See layout.py for the directory layout. Differences from a live run that the reader compensates for:
- inspect writes logs with `--timestamps` (an RFC 3339 prefix per line): the log detectors strip it;
- logs are complete, so the same tail as a live run is applied, and findings (and line numbers) match;
- inspect elides Secret data and we never need Secrets, so `secrets` files are not even read;
- a must-gather may lack CRDs or PVCs: those collections are then unknown rather than empty.
Every object and log still passes through the sanitizer (must-gathers are not redacted for our purposes).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lmeval_setup.doctor import layout as Lay
from lmeval_setup.doctor.collect import LOG_TAIL_LINES
from lmeval_setup.doctor.sanitize import sanitize_log, sanitize_object
from lmeval_setup.doctor.snapshot import SNAPSHOT_META_FILE, Snapshot, group_of
from lmeval_setup.errors import UsageError
from lmeval_setup.rules.status import parse_time

SKIPPED_PLURALS = frozenset({"secrets"})
_MUST_GATHER_TIME = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)")


def read_dir(path: str | Path) -> Snapshot:
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"--from-dir {root}: not a directory")
    roots = find_roots(root)
    if not roots:
        raise UsageError(
            f"--from-dir {root}: no oc adm inspect / must-gather layout found",
            hint="expected namespaces/ or cluster-scoped-resources/ below it",
        )
    snapshot = Snapshot()
    for r in roots:
        _read_root(r, snapshot)
    _read_meta(root, roots, snapshot)
    return snapshot


def find_roots(root: Path, depth: int = 3) -> list[Path]:
    """Directories holding namespaces/ or cluster-scoped-resources/ (a must-gather has one per image)."""
    found: list[Path] = []
    frontier = [root]
    for _ in range(depth + 1):
        next_frontier = []
        for d in frontier:
            if (d / Lay.NAMESPACES_DIR).is_dir() or (d / Lay.CLUSTER_DIR).is_dir():
                found.append(d)
                continue
            next_frontier.extend(sorted(p for p in d.iterdir() if p.is_dir()))
        frontier = next_frontier
    return found


def _read_root(root: Path, snapshot: Snapshot) -> None:
    cluster = root / Lay.CLUSTER_DIR
    if cluster.is_dir():
        for group_path in sorted(p for p in cluster.iterdir() if p.is_dir()):
            _read_group(group_path, Lay.group_from_dir(group_path.name), None, snapshot)
    namespaces = root / Lay.NAMESPACES_DIR
    if namespaces.is_dir():
        for ns_path in sorted(p for p in namespaces.iterdir() if p.is_dir()):
            _read_namespace(ns_path, snapshot)


def _read_namespace(ns_path: Path, snapshot: Snapshot) -> None:
    ns = ns_path.name
    ns_file = ns_path / f"{ns}.yaml"
    if ns_file.is_file():
        for obj in _load(ns_file, snapshot):
            snapshot.add("", "namespaces", obj)
    for child in sorted(p for p in ns_path.iterdir() if p.is_dir()):
        if child.name == Lay.PODS_DIR:
            _read_pods(child, ns, snapshot)
        else:
            _read_group(child, Lay.group_from_dir(child.name), ns, snapshot)


def _read_group(group_path: Path, group: str, ns: str | None, snapshot: Snapshot) -> None:
    for entry in sorted(group_path.iterdir()):
        if entry.is_file() and entry.suffix in (".yaml", ".yml"):
            plural = entry.stem
            if plural in SKIPPED_PLURALS:
                continue
            objs = _load(entry, snapshot)
            snapshot.add_all(_group_of(objs, group), plural, objs, ns or "")
        elif entry.is_dir() and entry.name not in SKIPPED_PLURALS:
            objs = [o for f in sorted(entry.glob("*.y*ml")) for o in _load(f, snapshot)]
            snapshot.add_all(_group_of(objs, group), entry.name, objs, ns or "")


def _group_of(objs: list[dict[str, Any]], default: str) -> str:
    """Trust the directory, but an object's apiVersion settles `core` vs a named group."""
    for obj in objs:
        if obj.get("apiVersion"):
            return group_of(str(obj["apiVersion"]))
    return default


def _read_pods(pods_dir: Path, ns: str, snapshot: Snapshot) -> None:
    for pod_dir in sorted(p for p in pods_dir.iterdir() if p.is_dir()):
        pod_file = pod_dir / f"{pod_dir.name}.yaml"
        if pod_file.is_file():
            for obj in _load(pod_file, snapshot):
                snapshot.add("", "pods", obj)
        for container_dir in sorted(p for p in pod_dir.iterdir() if p.is_dir()):
            logs = container_dir / container_dir.name / "logs"
            text = _read_log(logs)
            if text is not None:
                snapshot.logs[(ns, pod_dir.name, container_dir.name)] = text


def _read_log(logs: Path) -> str | None:
    for name in ("current.log", "previous.log"):
        path = logs / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if text.strip():
                lines = text.rstrip("\n").split("\n")
                return sanitize_log("\n".join(lines[-LOG_TAIL_LINES:]))
    return None


def _load(path: Path, snapshot: Snapshot) -> list[dict[str, Any]]:
    """Objects in a file: a single object, a List (items), or several YAML documents."""
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8", errors="replace")))
    except yaml.YAMLError as exc:
        snapshot.notes.append(f"{path}: not valid YAML ({str(exc).splitlines()[0]})")
        return []
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            out.extend(sanitize_object(i) for i in doc["items"] if isinstance(i, dict))
        elif "metadata" in doc:
            out.append(sanitize_object(doc))
    return out


def _read_meta(root: Path, roots: list[Path], snapshot: Snapshot) -> None:
    """Our --collect metadata (served versions, lookups, scope, time); else must-gather's timestamp."""
    for candidate in [root, *roots]:
        meta_file = candidate / SNAPSHOT_META_FILE
        if meta_file.is_file():
            meta = yaml.safe_load(meta_file.read_text()) or {}
            snapshot.served.update({str(k): list(v) for k, v in (meta.get("served") or {}).items()})
            snapshot.collected |= {tuple(c) for c in meta.get("collected") or []}  # type: ignore[misc]
            snapshot.absent |= {tuple(a) for a in meta.get("absent") or []}  # type: ignore[misc]
            snapshot.scope = dict(meta.get("scope") or {})
            snapshot.collected_at = parse_time(meta.get("collected_at"))
            snapshot.notes.extend(str(n) for n in meta.get("notes") or [])
            return
    snapshot.collected_at = _must_gather_time(root) or _newest_time(snapshot)


def _must_gather_time(root: Path) -> datetime | None:
    for candidate in [root, *root.glob("*/")]:
        stamp = candidate / "timestamp"
        if stamp.is_file():
            lines = stamp.read_text().strip().splitlines()
            m = _MUST_GATHER_TIME.search(lines[-1] if lines else "")
            if m:
                return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00")
    return None


def _newest_time(snapshot: Snapshot) -> datetime | None:
    """No recorded collection time: the newest timestamp in the data is the best lower bound."""
    newest: datetime | None = None
    for obj in snapshot.objects.values():
        meta = obj.get("metadata") or {}
        candidates = [meta.get("creationTimestamp"), obj.get("lastTimestamp"), obj.get("eventTime")]
        candidates += [e.get("time") for e in meta.get("managedFields") or []]
        for value in candidates:
            when = parse_time(value)
            if when is not None and (newest is None or when > newest):
                newest = when
    return newest or datetime.now(UTC)
