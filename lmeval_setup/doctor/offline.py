"""Offline: read an `oc adm inspect` / `oc adm must-gather` tree (or our `--collect` output) into a Snapshot.

See layout.py for the directory layout. Differences from a live run that the reader compensates for:
- inspect writes logs with `--timestamps` (an RFC 3339 prefix per line): the log detectors strip it;
- logs are complete, so the same tail as a live run is applied, and findings (and line numbers) match;
- inspect elides Secret data and we never need Secrets, so `secrets` files are not even read;
- a must-gather may lack CRDs or PVCs: those collections are then unknown rather than empty.
Objects are kept as read (rules see real values; outputs are redacted); logs pass through the sanitizer,
as live. Every file is read through safeio (regular files only, bounded, logs from the end), nothing is
followed out of the given directory, and of several gathers in it only the newest is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmeval_setup import safeio
from lmeval_setup.doctor import layout as Lay
from lmeval_setup.doctor.collect import LOG_LIMIT_BYTES, LOG_TAIL_LINES
from lmeval_setup.doctor.operator_log import OPERATOR_LOG_LIMIT_BYTES, OPERATOR_LOG_TAIL_LINES
from lmeval_setup.doctor.sanitize import sanitize_log
from lmeval_setup.doctor.snapshot import SNAPSHOT_META_FILE, Snapshot, group_of
from lmeval_setup.errors import UsageError
from lmeval_setup.platform.operator_state import parse_time
from lmeval_setup.platform.releases import OPERATOR_CONTAINER

SKIPPED_PLURALS = frozenset({"secrets"})
_MUST_GATHER_TIME = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)")
# `oc adm must-gather` / `oc adm inspect` default destination names; a `timestamp` file marks a gather too.
_GATHER_NAME = re.compile(r"^(must-gather|inspect)\.local\.")
TIMESTAMP_FILE = "timestamp"

# Bounds (a tree someone else made): per file, for the whole tree, and for the search for its roots.
MAX_OBJECT_FILE_BYTES = 32 * safeio.MiB
MAX_META_BYTES = safeio.MiB
MAX_TIMESTAMP_BYTES = 4096
MAX_TREE_BYTES = 512 * safeio.MiB
MAX_OBJECTS_PER_FILE = 20_000  # a List's items: more is not one LMEval namespace; stopped while parsing
OBJECT_YAML = safeio.YamlLimits(max_nodes=2_000_000, max_depth=100, max_sequence=MAX_OBJECTS_PER_FILE)
META_YAML = safeio.YamlLimits(max_nodes=100_000, max_depth=10)
MAX_TREE_NODES = 4_000_000
MAX_SEARCHED_DIRS = 2_000  # find_roots: `--from-dir /` must end quickly
MAX_LISTED_ENTRIES = 200_000


def read_dir(path: str | Path) -> Snapshot:
    root = Path(path)
    if not safeio.is_dir(root):
        raise UsageError(f"--from-dir {root}: {safeio.why_missing(root, 'not a directory')}")
    tree = _Tree(root)
    roots = find_roots(root, tree=tree)
    if not roots:
        raise UsageError(
            f"--from-dir {root}: no oc adm inspect / must-gather layout found",
            hint="expected namespaces/ or cluster-scoped-resources/ below it",
        )
    gather, roots = _one_gather(root, roots, tree)
    snapshot = Snapshot()
    for r in roots:
        _read_root(r, snapshot, tree)
    _read_meta(gather, roots, snapshot, tree)
    snapshot.notes.extend(tree.notes)
    return snapshot


class _Tree:
    """Everything read below one --from-dir root: links out of it are not followed, reads are budgeted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.notes: list[str] = []
        self.bytes_left = MAX_TREE_BYTES
        self.nodes_left = MAX_TREE_NODES
        self.entries_left = MAX_LISTED_ENTRIES

    def inside(self, path: Path) -> bool:
        """A symlink (or anything under one) resolving outside the root is skipped, with a note."""
        if safeio.within(self.real_root, path):
            return True
        self.notes.append(f"{path}: skipped, a symbolic link to outside {self.root}")
        return False

    def entries(self, directory: Path, *, search: bool = False) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as it:
                found = []
                for entry in it:
                    self.entries_left -= 1
                    if self.entries_left < 0:
                        raise UsageError(f"--from-dir {self.root}: more than {MAX_LISTED_ENTRIES} files and "
                                         "directories; point it at the must-gather or inspect directory itself")
                    found.append(entry)
        except OSError as exc:
            if search:  # looking for the layout: an unreadable corner is not where it is
                return []
            raise safeio.UnreadableInput(str(directory), f"cannot list: {safeio.os_error_text(exc)}") from None
        return sorted(found, key=lambda e: e.name)

    def subdirs(self, directory: Path, *, search: bool = False) -> Iterator[Path]:
        for entry in self.entries(directory, search=search):
            path = Path(entry.path)
            if _is_dir(entry) and (not entry.is_symlink() or self.inside(path)):
                yield path

    def files(self, directory: Path, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> Iterator[Path]:
        for entry in self.entries(directory):
            path = Path(entry.path)
            if entry.name.endswith(suffixes) and not _is_dir(entry) and (not entry.is_symlink() or self.inside(path)):
                yield path

    def file(self, path: Path) -> Path | None:
        """`path` when it exists (as anything but a directory) and stays inside the root."""
        if not os.path.lexists(path) or safeio.is_dir(path):
            return None
        return path if self.inside(path) else None

    def text(self, path: Path, limit: int) -> str:
        text = safeio.read_text(path, limit=limit)
        self.bytes_left -= len(text)
        if self.bytes_left < 0:
            raise UsageError(f"--from-dir {self.root}: more than {MAX_TREE_BYTES // safeio.MiB} MiB of YAML and "
                             "logs; point it at a narrower gather (oc adm inspect ns/<namespace>)")
        return text

    def tail(self, path: Path, max_bytes: int) -> str:
        text = safeio.read_tail(path, max_bytes=max_bytes)
        self.bytes_left -= len(text)
        return text

    def yaml_documents(self, path: Path) -> list[Any]:
        try:
            documents, nodes = safeio.load_yaml_all_counted(self.text(path, MAX_OBJECT_FILE_BYTES), str(path),
                                                            OBJECT_YAML)
        except safeio.UnreadableInput as exc:
            if not isinstance(exc, safeio.MalformedYaml) and exc.why.startswith(("file is", "larger", "a sequence",
                                                                                      "more than")):
                exc.hint = ("the doctor reads LMEval namespaces, not whole clusters: gather only those "
                            "(oc adm inspect ns/<namespace>, or the RHOAI must-gather with COMPONENT=trustyai)")
            raise
        self.nodes_left -= nodes
        if self.nodes_left < 0:
            raise UsageError(f"--from-dir {self.root}: more than {MAX_TREE_NODES} YAML nodes in all; point it at "
                             "a narrower gather (oc adm inspect ns/<namespace>)")
        return documents


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks; inside() then decides whether the target may be read
    except OSError:
        return False


def find_roots(root: Path, depth: int = 3, *, tree: _Tree | None = None) -> list[Path]:
    """Directories holding namespaces/ or cluster-scoped-resources/ (a must-gather has one per image)."""
    tree = tree or _Tree(root)
    found: list[Path] = []
    frontier = [root]
    searched = 0
    for _ in range(depth + 1):
        next_frontier = []
        for d in frontier:
            searched += 1
            if searched > MAX_SEARCHED_DIRS:
                raise UsageError(f"--from-dir {root}: no oc adm inspect / must-gather layout in the first "
                                 f"{MAX_SEARCHED_DIRS} directories searched",
                                 hint="point --from-dir at the must-gather or inspect directory itself")
            children = list(tree.subdirs(d, search=True))
            names = {c.name for c in children}
            if Lay.NAMESPACES_DIR in names or Lay.CLUSTER_DIR in names:
                found.append(d)
                continue
            next_frontier.extend(children)
        frontier = next_frontier
    return found


# -- several gathers in one directory: the newest wins, alone --------------------------------------------
def _one_gather(root: Path, roots: list[Path], tree: _Tree) -> tuple[Path, list[Path]]:
    """The gather to read and its roots. Two must-gathers are two points in time: never merged."""
    if _is_gather(root, tree) or any(r == root for r in roots):
        return root, roots
    by_child: dict[Path, list[Path]] = {}
    for r in roots:
        by_child.setdefault(root / r.relative_to(root).parts[0], []).append(r)
    if len(by_child) < 2 or not any(_is_gather(c, tree) for c in by_child):
        return root, roots  # one gather's image directories (or an unmarked tree): read it all
    dated = sorted(((_gather_time(c, tree), c) for c in by_child), key=lambda tc: (tc[0], tc[1].name))
    newest_time, newest = dated[-1]
    others = ", ".join(c.name for _, c in dated[:-1])
    tree.notes.append(f"{root} holds {len(dated)} gathers: read the newest, {newest.name} "
                      f"({newest_time.isoformat()}); not merged with {others}")
    return newest, by_child[newest]


def _is_gather(directory: Path, tree: _Tree) -> bool:
    return bool(_GATHER_NAME.match(directory.name)) or tree.file(directory / TIMESTAMP_FILE) is not None


def _gather_time(directory: Path, tree: _Tree) -> datetime:
    """When a gather was taken: its timestamp file (must-gather writes start and end), else its mtime."""
    return _must_gather_time(directory, tree) or datetime.fromtimestamp(directory.stat().st_mtime, UTC)


# -- reading one root --------------------------------------------------------------------------------
def _read_root(root: Path, snapshot: Snapshot, tree: _Tree) -> None:
    cluster = root / Lay.CLUSTER_DIR
    if safeio.is_dir(cluster) and tree.inside(cluster):
        for group_path in tree.subdirs(cluster):
            _read_group(group_path, Lay.group_from_dir(group_path.name), None, snapshot, tree)
    namespaces = root / Lay.NAMESPACES_DIR
    if safeio.is_dir(namespaces) and tree.inside(namespaces):
        for ns_path in tree.subdirs(namespaces):
            _read_namespace(ns_path, snapshot, tree)


def _read_namespace(ns_path: Path, snapshot: Snapshot, tree: _Tree) -> None:
    ns = ns_path.name
    ns_file = tree.file(ns_path / f"{ns}.yaml")
    if ns_file is not None:
        for obj in _load(ns_file, snapshot, tree):
            snapshot.add("", "namespaces", obj)
    for child in tree.subdirs(ns_path):
        if child.name == Lay.PODS_DIR:
            _read_pods(child, ns, snapshot, tree)
        else:
            _read_group(child, Lay.group_from_dir(child.name), ns, snapshot, tree)


def _read_group(group_path: Path, group: str, ns: str | None, snapshot: Snapshot, tree: _Tree) -> None:
    for entry in tree.files(group_path):
        plural = entry.stem
        if plural in SKIPPED_PLURALS:
            continue
        objs = _load(entry, snapshot, tree)
        snapshot.add_all(_group_of(objs, group), plural, objs, ns or "")
    for entry in tree.subdirs(group_path):
        if entry.name in SKIPPED_PLURALS:
            continue
        objs = [o for f in tree.files(entry) for o in _load(f, snapshot, tree)]
        snapshot.add_all(_group_of(objs, group), entry.name, objs, ns or "")


def _group_of(objs: list[dict[str, Any]], default: str) -> str:
    """Trust the directory, but an object's apiVersion settles `core` vs a named group."""
    for obj in objs:
        if obj.get("apiVersion"):
            return group_of(str(obj["apiVersion"]))
    return default


def _read_pods(pods_dir: Path, ns: str, snapshot: Snapshot, tree: _Tree) -> None:
    for pod_dir in tree.subdirs(pods_dir):
        pod_file = tree.file(pod_dir / f"{pod_dir.name}.yaml")
        if pod_file is not None:
            for obj in _load(pod_file, snapshot, tree):
                snapshot.add("", "pods", obj)
        for container_dir in tree.subdirs(pod_dir):
            # The operator's manager log is read with the bounds a live run uses for it (doctor/operator_log.py).
            bounds = (OPERATOR_LOG_LIMIT_BYTES, OPERATOR_LOG_TAIL_LINES) if container_dir.name == \
                OPERATOR_CONTAINER else (LOG_LIMIT_BYTES, LOG_TAIL_LINES)
            text = _read_log(container_dir / container_dir.name / "logs", tree, *bounds)
            if text is not None:
                snapshot.logs[(ns, pod_dir.name, container_dir.name)] = text


def _read_log(logs: Path, tree: _Tree, limit_bytes: int = LOG_LIMIT_BYTES,
              tail_lines: int = LOG_TAIL_LINES) -> str | None:
    """The same tail a live run fetches (limit_bytes, then tail_lines), read from the file's end."""
    for name in ("current.log", "previous.log"):
        path = tree.file(logs / name)
        if path is not None:
            text = tree.tail(path, limit_bytes)
            if text.strip():
                lines = text.rstrip("\n").split("\n")
                return sanitize_log("\n".join(lines[-tail_lines:]))
    return None


def _load(path: Path, snapshot: Snapshot, tree: _Tree) -> list[dict[str, Any]]:
    """Objects in a file: a single object, a List (items), or several YAML documents."""
    try:
        docs = tree.yaml_documents(path)
    except safeio.MalformedYaml as exc:
        snapshot.notes.append(f"{path}: not valid YAML ({exc.why})")
        return []
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
            out.extend(i for i in doc["items"] if isinstance(i, dict) and _is_object(i))
        elif _is_object(doc):
            out.append(doc)
    return out


def _is_object(doc: dict[str, Any]) -> bool:
    """Enough of a Kubernetes object to be filed: metadata with a string name (and namespace if any)."""
    meta = doc.get("metadata")
    return isinstance(meta, dict) and isinstance(meta.get("name", ""), str) \
        and isinstance(meta.get("namespace") or "", str)


# -- what a directory cannot show: our --collect record, or must-gather's timestamp --------------------
def _read_meta(gather: Path, roots: list[Path], snapshot: Snapshot, tree: _Tree) -> None:
    """Our --collect metadata (served versions, lookups, scope, time); else must-gather's timestamp."""
    for candidate in [gather, *roots]:
        meta_file = tree.file(candidate / SNAPSHOT_META_FILE)
        if meta_file is not None:
            _apply_meta(meta_file, safeio.load_yaml(tree.text(meta_file, MAX_META_BYTES), str(meta_file), META_YAML),
                        snapshot)
            return
    snapshot.collected_at = _must_gather_time(gather, tree) or _newest_time(snapshot)


def _apply_meta(meta_file: Path, meta: Any, snapshot: Snapshot) -> None:
    def bad(what: str) -> safeio.UnreadableInput:
        return safeio.UnreadableInput(str(meta_file), f"not an lmeval-setup snapshot record: {what}")

    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise bad("expected a mapping")
    served, scope = meta.get("served") or {}, meta.get("scope") or {}
    if not isinstance(served, dict) or not all(isinstance(v, list) for v in served.values()):
        raise bad("'served' must map API groups to lists of versions")
    if not isinstance(scope, dict):
        raise bad("'scope' must be a mapping")
    collected = _tuples(meta.get("collected"), 3, "collected", bad)
    absent = _tuples(meta.get("absent"), 4, "absent", bad)
    notes = meta.get("notes") or []
    if not isinstance(notes, list):
        raise bad("'notes' must be a list")
    when = meta.get("collected_at")
    if when is not None and parse_time(str(when)) is None:
        raise bad(f"'collected_at' is not a time: {str(when)[:40]!r}")
    snapshot.served.update({str(k): [str(v) for v in vs] for k, vs in served.items()})
    snapshot.collected |= collected  # type: ignore[arg-type]
    snapshot.absent |= absent  # type: ignore[arg-type]
    snapshot.scope = dict(scope)
    snapshot.collected_at = parse_time(str(when)) if when is not None else None
    snapshot.notes.extend(str(n) for n in notes)


def _tuples(value: Any, size: int, name: str, bad: Any) -> set[tuple[str, ...]]:
    if value is None:
        return set()
    if not isinstance(value, list) or not all(isinstance(v, list) and len(v) == size for v in value):
        raise bad(f"'{name}' must be a list of {size}-item lists")
    return {tuple(str(x) for x in v) for v in value}


def _must_gather_time(directory: Path, tree: _Tree) -> datetime | None:
    candidates = [directory, *list(tree.subdirs(directory, search=True))[:50]]
    for candidate in candidates:
        stamp = tree.file(candidate / TIMESTAMP_FILE)
        if stamp is None:
            continue
        try:
            lines = tree.text(stamp, MAX_TIMESTAMP_BYTES).strip().splitlines()
        except safeio.UnreadableInput as exc:
            tree.notes.append(f"{stamp}: ignored ({exc.why})")
            continue
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
