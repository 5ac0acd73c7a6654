"""`doctor --collect DIR`: write a Snapshot in the `oc adm inspect` layout (layout.py), secrets removed.

The Snapshot holds what the cluster said (rules need real values); everything written here goes through
the sanitizer (no Secret objects, credential env values and model arguments replaced by <redacted>,
bearer tokens, URL passwords and `name=value` credentials masked in logs and notes). `--from-dir DIR`
reproduces the live findings: the spec rules treat <redacted> as the credential it replaced.
SNAPSHOT_META_FILE records what a directory cannot show by itself: served API versions, which
collections were complete, which single objects were looked up and absent, the scope and the time.

The directory is private: 0700 directories, 0600 files, created fresh (an existing symlink, file or
non-empty directory is refused), and any write failure is one line with exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from lmeval_setup import __version__, safeio
from lmeval_setup.doctor import layout as Lay
from lmeval_setup.doctor.sanitize import sanitize_log, sanitize_object
from lmeval_setup.doctor.snapshot import SNAPSHOT_META_FILE, Snapshot
from lmeval_setup.errors import UsageError
from lmeval_setup.redact import redact_text

LIST_PLURALS = frozenset({"events"})  # inspect writes these as one List per namespace


def prepare_dir(path: str | Path) -> Path:
    """Check (and create, 0700) the --collect target before any cluster work; refusals are exit 2."""
    root = Path(path)
    try:
        if root.is_symlink():
            raise UsageError(f"--collect {root}: is a symbolic link; refused (give a new or empty directory)")
        if root.exists():
            if not root.is_dir():
                raise UsageError(f"--collect {root}: exists and is not a directory")
            if any(root.iterdir()):
                raise UsageError(f"--collect {root}: directory exists and is not empty")
            os.chmod(root, safeio.PRIVATE_DIR_MODE)
        else:
            root.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(root, safeio.PRIVATE_DIR_MODE)
        probe = root / ".lmeval-setup-write-test"
        safeio.write_private(probe, "")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--collect {root}: cannot write: {safeio.os_error_text(exc)}") from None
    return root


@contextmanager
def collect_target(path: str | Path) -> Iterator[Path]:
    """prepare_dir for the length of the cluster read: when the read fails (unreachable, refused, Ctrl-C),
    the directories this run created are removed again, so a failed --collect leaves nothing behind."""
    created = _missing_dirs(Path(path))
    root = prepare_dir(path)
    try:
        yield root
    except BaseException:
        for directory in created:  # deepest first; a directory someone filled meanwhile stays
            try:
                directory.rmdir()
            except OSError:
                break
        raise


def _missing_dirs(path: Path) -> list[Path]:
    """The directories prepare_dir would create for `path`, deepest first."""
    missing = []
    while not os.path.lexists(path) and path != path.parent:  # (lexists: a name too long is "missing" too)
        missing.append(path)
        path = path.parent
    return missing


def write_dir(snapshot: Snapshot, path: str | Path) -> Path:
    root = prepare_dir(path)  # again: idempotent on the empty directory the CLI prepared
    try:
        _write_tree(snapshot, root)
    except OSError as exc:
        raise UsageError(f"--collect {root}: cannot write: {safeio.os_error_text(exc)}") from None
    return root


def _write_tree(snapshot: Snapshot, root: Path) -> None:
    lists: dict[Path, list[dict[str, Any]]] = {}
    for (group, plural, ns, name), obj in sorted(snapshot.objects.items()):
        if plural == "secrets":
            continue  # never written, even if something put one in the snapshot
        if not all(map(_safe_part, (group, plural, ns, name))):
            snapshot.notes.append(f"not written: an object with an unusable name {name!r} ({plural})")
            continue
        if _is_pod(group, plural, ns):  # oc adm inspect keeps a pod beside its logs, not under core/
            _dump(root, root / Lay.NAMESPACES_DIR / ns / Lay.PODS_DIR / name / f"{name}.yaml", obj)
            continue
        base = root / (f"{Lay.NAMESPACES_DIR}/{ns}" if ns else Lay.CLUSTER_DIR) / Lay.group_dir(group)
        if plural in LIST_PLURALS:
            lists.setdefault(base / f"{plural}.yaml", []).append(obj)
            continue
        _dump(root, base / plural / f"{name}.yaml", obj)
    for file, items in lists.items():
        _dump(root, file, {"apiVersion": "v1", "kind": "List", "items": items})
    for (ns, pod, container), text in sorted(snapshot.logs.items()):
        if not all(map(_safe_part, (ns, pod, container))):
            continue
        log = root / Lay.NAMESPACES_DIR / ns / Lay.PODS_DIR / pod / container / container / "logs" / "current.log"
        _write(root, log, sanitize_log(text))
    _write(root, root / SNAPSHOT_META_FILE, _yaml(_meta(snapshot)))


def _safe_part(name: str) -> bool:
    """One path component: names come from the cluster, but a path must never climb out of the root."""
    return name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


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
        "notes": [redact_text(n) for n in snapshot.notes],
    }


def _yaml(obj: Any) -> str:
    return str(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def _dump(root: Path, path: Path, obj: Any) -> None:
    _write(root, path, _yaml(sanitize_object(obj)))


def _write(root: Path, path: Path, text: str) -> None:
    safeio.make_private_dirs(path.parent, root)
    safeio.write_private(path, text)
