"""`doctor --collect DIR`: write a Snapshot in the `oc adm inspect` layout (layout.py), secrets removed.

The Snapshot is already sanitized at collection (no Secret objects, credential-looking env values and
model arguments replaced, bearer tokens and keys masked in logs), so what lands on disk is exactly what the
doctor reasoned about, and `--from-dir DIR` reproduces the live findings. SNAPSHOT_META_FILE records what
a directory cannot show by itself: served API versions, which collections were complete, which single
objects were looked up and absent, the scope and the collection time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lmeval_setup import __version__
from lmeval_setup.doctor import layout as Lay
from lmeval_setup.doctor.snapshot import SNAPSHOT_META_FILE, Snapshot
from lmeval_setup.errors import UsageError

LIST_PLURALS = frozenset({"events"})  # inspect writes these as one List per namespace


def write_dir(snapshot: Snapshot, path: str | Path) -> Path:
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"--collect {root}: directory exists and is not empty")
    root.mkdir(parents=True, exist_ok=True)
    lists: dict[Path, list[dict[str, Any]]] = {}
    for (group, plural, ns, name), obj in sorted(snapshot.objects.items()):
        if plural == "secrets":
            continue  # never written, even if something put one in the snapshot
        if _is_pod(group, plural, ns):  # oc adm inspect keeps a pod beside its logs, not under core/
            _dump(root / Lay.NAMESPACES_DIR / ns / Lay.PODS_DIR / name / f"{name}.yaml", obj)
            continue
        base = root / (f"{Lay.NAMESPACES_DIR}/{ns}" if ns else Lay.CLUSTER_DIR) / Lay.group_dir(group)
        if plural in LIST_PLURALS:
            lists.setdefault(base / f"{plural}.yaml", []).append(obj)
            continue
        _dump(base / plural / f"{name}.yaml", obj)
    for file, items in lists.items():
        _dump(file, {"apiVersion": "v1", "kind": "List", "items": items})
    for (ns, pod, container), text in sorted(snapshot.logs.items()):
        log = root / Lay.NAMESPACES_DIR / ns / Lay.PODS_DIR / pod / container / container / "logs" / "current.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8")
    _dump(root / SNAPSHOT_META_FILE, _meta(snapshot))
    return root


def _is_pod(group: str, plural: str, ns: str) -> bool:
    return group == "" and plural == "pods" and bool(ns)


def _meta(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "tool": f"lmeval-setup {__version__}",
        "collected_at": snapshot.collected_at.isoformat() if snapshot.collected_at else None,
        "scope": snapshot.scope,
        "served": snapshot.served,
        "collected": sorted(list(c) for c in snapshot.collected),
        "absent": sorted(list(a) for a in snapshot.absent),
        "notes": snapshot.notes,
    }


def _dump(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True), encoding="utf-8")
