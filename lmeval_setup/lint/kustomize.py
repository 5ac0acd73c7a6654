"""A small, dependency-free kustomize builder for linting LMEvalJobs (no kubectl needed).

Supported (documented in the README's lint section):
- `resources` (and legacy `bases`): files and directories with their own kustomization, recursively;
- `components` (kind: Component): their resources are added and their patches apply to everything
  accumulated so far, like kustomize;
- `patches`: `path:` or inline `patch:`, either a strategic-merge patch (a partial object; matched by
  its kind/name or by `target`) or a JSON 6902 op list (needs `target`); target fields `kind`, `name`
  (regex, as kustomize), `namespace`, `group`, `version`, `labelSelector` (equality only);
- legacy `patchesStrategicMerge` (paths or inline) and `patchesJson6902` (`target` + `path`/`patch`);
- `namespace`, `namePrefix`, `nameSuffix` (applied after patches, as kustomize does).

Strategic merge on a custom resource follows kyaml's rules without a schema: maps merge, lists of
maps merge by an associative key every element has (`name`, `mountPath`, ...), other lists are
replaced, `$patch: delete|replace` directives are honoured. Every field keeps the file and line it
came from, so findings point at the resource or the patch that set the value.
Not supported: remote resources (URLs; reported and skipped), generators, Helm charts, replacements,
vars, `openapi` schemas. Those do not change LMEvalJob specs in practice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.lint.loader import Document, InputError, join, load_documents, read_source

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ASSOCIATIVE_KEYS = ("name", "mountPath", "devicePath", "ip", "type", "topologyKey", "containerPort")
MAX_DEPTH = 30


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


@dataclass
class Built:
    documents: list[Document] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)  # every file the build read (not linted on their own)
    kustomizations: set[Path] = field(default_factory=set)  # directories built as bases


def build(directory: Path) -> Built:
    result = Built()
    result.documents = _build_dir(directory.resolve(), result, depth=0, display_root=directory)
    return result


def _display(path: Path, root: Path, root_abs: Path) -> str:
    """How a file is named in findings: as the user named the root, else relative to the cwd."""
    try:
        return str(root / path.relative_to(root_abs))
    except ValueError:
        pass
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load(path: Path, result: Built, display: str) -> list[Document]:
    result.files.add(path)
    try:
        return list(load_documents(display, read_source(str(path))))
    except InputError as exc:
        if exc.file != display:
            exc = InputError(display, str(exc).split(": ", 1)[-1], exc.line, exc.column)
        result.errors.append(exc)
        return []


def _build_dir(directory: Path, result: Built, depth: int, display_root: Path) -> list[Document]:
    root_abs = display_root.resolve()
    if depth > MAX_DEPTH:
        result.errors.append(InputError(str(directory), "kustomization nesting too deep (a cycle?)"))
        return []
    kfile = kustomization_file(directory)
    if kfile is None:
        result.errors.append(InputError(str(directory), "directory in resources has no kustomization.yaml"))
        return []
    result.kustomizations.add(directory)
    shown = _display(kfile, display_root, root_abs)
    docs = _load(kfile, result, shown)
    if not docs or not isinstance(docs[0].data, dict):
        return []
    spec = docs[0]
    k = spec.data
    objects: list[Document] = []
    for entry in _str_list(k.get("resources")) + _str_list(k.get("bases")):
        objects += _resource(directory, entry, result, depth, display_root)
    for entry in _str_list(k.get("components")):
        component_dir = (directory / entry).resolve()
        objects += _build_component(component_dir, objects, result, depth, display_root)
    _apply_patches(k, spec, directory, objects, result, display_root)
    _apply_name_transforms(k, objects)
    return objects


def _build_component(
    directory: Path, accumulated: list[Document], result: Built, depth: int, display_root: Path
) -> list[Document]:
    """A Component adds its resources and patches the accumulated objects in place."""
    kfile = kustomization_file(directory) if directory.is_dir() else None
    if kfile is None:
        result.errors.append(InputError(str(directory), "component has no kustomization.yaml"))
        return []
    result.kustomizations.add(directory)
    docs = _load(kfile, result, _display(kfile, display_root, display_root.resolve()))
    if not docs or not isinstance(docs[0].data, dict):
        return []
    added: list[Document] = []
    for entry in _str_list(docs[0].data.get("resources")):
        added += _resource(directory, entry, result, depth + 1, display_root)
    _apply_patches(docs[0].data, docs[0], directory, accumulated + added, result, display_root)
    return added


def _resource(directory: Path, entry: str, result: Built, depth: int, display_root: Path) -> list[Document]:
    if re.match(r"^[a-z][a-z0-9+.-]*://", entry) or entry.startswith(("github.com/", "git@")):
        result.notes.append(f"{directory}: remote resource {entry} skipped (not fetched by lint)")
        return []
    path = (directory / entry).resolve()
    if path.is_dir():
        return _build_dir(path, result, depth + 1, display_root)
    if not path.is_file():
        result.errors.append(InputError(str(directory / entry), "resource listed in kustomization does not exist"))
        return []
    if not _inside_root(directory, entry, path, result):
        return []
    return _load(path, result, _display(path, display_root, display_root.resolve()))


def _inside_root(directory: Path, entry: str, path: Path, result: Built) -> bool:
    """kustomize's load restrictor (LoadRestrictionsRootOnly): a *file* a kustomization names must be in
    or below its directory, links resolved; only bases and components (directories) may be elsewhere."""
    try:
        path.relative_to(directory)
        return True
    except ValueError:
        result.errors.append(InputError(str(directory / entry), f"security: file {path} is not in or below the "
                                        f"kustomization root {directory} (kustomize refuses it too)"))
        return False


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# -- patches -----------------------------------------------------------------------------------------
@dataclass
class _Patch:
    doc: Document  # the patch content with its own positions
    target: dict[str, Any] | None


def _apply_patches(
    k: dict[str, Any], kdoc: Document, directory: Path, objects: list[Document], result: Built,
    display_root: Path,
) -> None:
    for patch in _patches(k, kdoc, directory, result, display_root):
        content = patch.doc.data
        if isinstance(content, list):  # JSON 6902
            if patch.target is None:
                result.errors.append(InputError(patch.doc.file, "JSON 6902 patch without a target"))
                continue
            for obj in objects:
                if _matches(obj.data, patch.target):
                    _json6902(obj, patch.doc, result)
        elif isinstance(content, dict):
            target = patch.target or _self_target(content)
            for obj in objects:
                if _matches(obj.data, target):
                    merged = _smp(obj.data, content, obj, patch.doc, "")
                    obj.data = merged


def _patches(
    k: dict[str, Any], kdoc: Document, directory: Path, result: Built, display_root: Path
) -> Iterator[_Patch]:
    entries = k.get("patches") if isinstance(k.get("patches"), list) else []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            target = entry.get("target") if isinstance(entry.get("target"), dict) else None
            yield from _patch_docs(entry, f"patches[{i}]", kdoc, directory, result, display_root, target)
    legacy = k.get("patchesStrategicMerge") if isinstance(k.get("patchesStrategicMerge"), list) else []
    for i, entry in enumerate(legacy):
        if isinstance(entry, str):
            holder = {"path": entry} if "\n" not in entry and ":" not in entry else {"patch": entry}
            yield from _patch_docs(holder, f"patchesStrategicMerge[{i}]", kdoc, directory, result,
                                   display_root, None, inline_path=f"patchesStrategicMerge[{i}]")
    json6902 = k.get("patchesJson6902") if isinstance(k.get("patchesJson6902"), list) else []
    for i, entry in enumerate(json6902):
        if isinstance(entry, dict) and isinstance(entry.get("target"), dict):
            yield from _patch_docs(entry, f"patchesJson6902[{i}]", kdoc, directory, result, display_root,
                                   entry["target"])


def _patch_docs(
    entry: dict[str, Any], where: str, kdoc: Document, directory: Path, result: Built, display_root: Path,
    target: dict[str, Any] | None, inline_path: str | None = None,
) -> Iterator[_Patch]:
    if isinstance(entry.get("path"), str):
        path = (directory / entry["path"]).resolve()
        if not path.is_file():
            result.errors.append(InputError(str(directory / entry["path"]), "patch file does not exist"))
            return
        if not _inside_root(directory, entry["path"], path, result):
            return
        for doc in _load(path, result, _display(path, display_root, display_root.resolve())):
            yield _Patch(doc, target)
    elif isinstance(entry.get("patch"), str):
        key_path = inline_path or join(where, "patch")
        _, line, _ = kdoc.position(key_path)
        # A block scalar's content starts on the line after the `patch: |` indicator.
        offset = line if "\n" in entry["patch"] else line - 1
        try:
            for doc in load_documents(kdoc.file, entry["patch"], origin_line_offset=offset):
                yield _Patch(doc, target)
        except InputError as exc:
            result.errors.append(exc)


def _self_target(content: dict[str, Any]) -> dict[str, Any]:
    meta = content.get("metadata") if isinstance(content.get("metadata"), dict) else {}
    target: dict[str, Any] = {}
    if isinstance(content.get("kind"), str):
        target["kind"] = content["kind"]
    if isinstance(meta.get("name"), str):
        target["name"] = re.escape(meta["name"])
    if isinstance(meta.get("namespace"), str):
        target["namespace"] = meta["namespace"]
    return target


def _matches(obj: Any, target: dict[str, Any]) -> bool:
    if not isinstance(obj, dict):
        return False
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    checks = {
        "kind": str(obj.get("kind", "")), "name": str(meta.get("name", "")),
        "namespace": str(meta.get("namespace", "") or ""), "group": group, "version": version,
    }
    for key, actual in checks.items():
        wanted = target.get(key)
        if wanted is None or wanted == "":
            continue
        try:
            if not re.fullmatch(str(wanted), actual):
                return False
        except re.error:
            if str(wanted) != actual:
                return False
    selector = target.get("labelSelector")
    if isinstance(selector, str) and selector:
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if str(labels.get(key.strip().rstrip("!"), "")) != value.strip().lstrip("="):
                return False
    return True


def _smp(base: Any, patch: Any, obj: Document, pdoc: Document, path: str) -> Any:
    """Strategic-merge `patch` into `base` (kyaml semantics without schema), moving positions."""
    if isinstance(patch, dict) and patch.get("$patch") == "delete":
        return None
    if isinstance(patch, dict) and isinstance(base, dict) and patch.get("$patch") != "replace":
        out = dict(base)
        for key, value in patch.items():
            if key == "$patch":
                continue
            sub = join(path, key)
            if value is None:  # null deletes in a merge patch
                out.pop(key, None)
                continue
            merged = _smp(base.get(key), value, obj, pdoc, sub)
            if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
                out.pop(key, None)
            else:
                out[key] = merged
                _take_position(obj, pdoc, sub, value)
        return out
    if isinstance(patch, list) and isinstance(base, list):
        key = _associative_key(base, patch)
        if key is not None:
            return _merge_list(base, patch, key, obj, pdoc, path)
    cleaned = _strip_directives(patch)
    _move_positions(obj, pdoc, path)
    return copy.deepcopy(cleaned)


def _associative_key(base: list[Any], patch: list[Any]) -> str | None:
    items = base + patch
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ASSOCIATIVE_KEYS:
        if all(key in i for i in items):
            return key
    return None


def _merge_list(
    base: list[Any], patch: list[Any], key: str, obj: Document, pdoc: Document, path: str
) -> list[Any]:
    out = list(base)
    # Positions of base elements are indexed; merging can only append or change in place.
    for p_index, item in enumerate(patch):
        match = next((i for i, b in enumerate(out) if b.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if match is not None:
                out.pop(match)  # later indexes shift: positions of the tail become approximate
            continue
        if match is None:
            out.append(_strip_directives(item))
            _move_positions(obj, pdoc, join(path, len(out) - 1), join(path, p_index))
        else:
            out[match] = _smp(out[match], item, obj, _shifted(pdoc, join(path, p_index), join(path, match)),
                              join(path, match))
    return out


def _shifted(pdoc: Document, from_prefix: str, to_prefix: str) -> Document:
    """A view of the patch's positions with a list index renamed (patch index -> merged index)."""
    if from_prefix == to_prefix:
        return pdoc
    moved = {}
    for p, pos in pdoc.positions.items():
        if p == from_prefix or p.startswith(from_prefix + ".") or p.startswith(from_prefix + "["):
            moved[to_prefix + p[len(from_prefix):]] = pos
    return Document(pdoc.file, pdoc.index, pdoc.data, moved)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _take_position(obj: Document, pdoc: Document, path: str, value: Any) -> None:
    if not isinstance(value, dict | list) and path in pdoc.positions:
        obj.positions[path] = pdoc.positions[path]


def _move_positions(obj: Document, pdoc: Document, path: str, source: str | None = None) -> None:
    """The subtree at `path` now comes from the patch: drop old positions, copy the patch's."""
    source = source or path
    for p in [p for p in obj.positions if p == path or p.startswith((path + ".", path + "["))]:
        del obj.positions[p]
    for p, pos in pdoc.positions.items():
        if p == source or p.startswith((source + ".", source + "[")):
            obj.positions[path + p[len(source):]] = pos


def _json6902(obj: Document, pdoc: Document, result: Built) -> None:
    for i, op in enumerate(pdoc.data):
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            continue
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        try:
            obj.data = _apply_op(obj.data, parts, op)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            _, line, column = pdoc.position(f"[{i}]")
            result.errors.append(InputError(pdoc.file, f"JSON patch op {op.get('op')} {op['path']} failed: {exc}",
                                            line, column))
            continue
        dotted = _dotted(parts, obj.data)
        value_pos = pdoc.position(f"[{i}].value") if "value" in op else pdoc.position(f"[{i}]")
        for p in [p for p in obj.positions if p == dotted or p.startswith((dotted + ".", dotted + "["))]:
            del obj.positions[p]
        obj.positions[dotted] = value_pos


def _dotted(parts: list[str], data: Any) -> str:
    path, node = "", data
    for part in parts:
        if isinstance(node, list):
            index = len(node) - 1 if part == "-" else int(part) if part.isdigit() else 0
            path = join(path, index)
            node = node[index] if 0 <= index < len(node) else None
        else:
            path = join(path, part)
            node = node.get(part) if isinstance(node, dict) else None
    return path


def _apply_op(data: Any, parts: list[str], op: dict[str, Any]) -> Any:
    kind = op.get("op")
    if not parts:
        return copy.deepcopy(op.get("value")) if kind in ("add", "replace") else data
    parent = data
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if kind in ("add", "replace"):
        value = copy.deepcopy(op.get("value"))
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif kind == "add":
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
        else:
            if kind == "replace" and last not in parent:
                raise KeyError(last)
            parent[last] = value
    elif kind == "remove":
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    elif kind == "test":
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        if current != op.get("value"):
            raise ValueError("test failed")
    # move/copy are rare in LMEvalJob overlays; unsupported ops leave the object unchanged.
    return data


def _apply_name_transforms(k: dict[str, Any], objects: list[Document]) -> None:
    namespace = k.get("namespace") if isinstance(k.get("namespace"), str) else None
    prefix = k.get("namePrefix") if isinstance(k.get("namePrefix"), str) else ""
    suffix = k.get("nameSuffix") if isinstance(k.get("nameSuffix"), str) else ""
    for obj in objects:
        if not isinstance(obj.data, dict):
            continue
        meta = obj.data.setdefault("metadata", {}) if isinstance(obj.data.get("metadata", {}), dict) else None
        if meta is None:
            continue
        if namespace:
            meta["namespace"] = namespace
        if (prefix or suffix) and isinstance(meta.get("name"), str):
            meta["name"] = f"{prefix}{meta['name']}{suffix}"
