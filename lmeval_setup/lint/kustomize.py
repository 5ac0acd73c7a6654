"""A small kustomize builder for linting LMEvalJobs without kubectl, agreeing with kustomize (v5).

It exists because it keeps every field's file and line, so a finding points at the base resource, the
patch file or the line of an inline patch that set the value. What it builds is checked against
`kubectl kustomize` by a differential test (tests/unit/test_kustomize_differential.py); the supported
and unsupported features are listed in docs/lint.md. Semantics follow kustomize's sources:

- a kustomization runs resources, then components (which transform everything accumulated so far),
  then its transformers in kustomize's order: patchesStrategicMerge, patches, namespace, namePrefix,
  nameSuffix, commonLabels/labels, commonAnnotations, patchesJson6902;
- every resource remembers its earlier names (kustomize's previous ids), so a patch in an overlay may
  name a base resource by the name it had before a base's `namePrefix`;
- strategic merge on a custom resource has no schema: maps merge, lists are replaced, `null` removes a
  field, `$patch: delete|replace` are honoured;
- target selectors: regexes anchored as in kustomize, the namespace of an object without one is
  `default`, `labelSelector`/`annotationSelector` are Kubernetes label selectors;
- JSON 6902 ops (add, remove, replace, move, copy, test) as kustomize's json-patch applies them.
A kustomization using a feature that could change an LMEvalJob and that this builder does not build is
refused ("unsupported kustomize feature X") instead of being built differently.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.lint.loader import Document, InputError, join, load_documents, read_source
from lmeval_setup.safeio import is_dir, is_file, real_path, why_missing

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_DEPTH = 30
# Fields kustomize reads that never change an LMEvalJob (generated ConfigMaps/Secrets are not linted,
# `images` rewrites container lists an LMEvalJob does not have, `replicas` targets workloads).
IGNORED_FIELDS = frozenset({
    "apiVersion", "kind", "metadata", "configMapGenerator", "secretGenerator", "generatorOptions", "images",
    "imageTags", "replicas", "sortOptions", "buildMetadata",
})
BUILT_FIELDS = frozenset({
    "resources", "bases", "components", "patches", "patchesStrategicMerge", "patchesJson6902", "namespace",
    "namePrefix", "nameSuffix", "commonLabels", "labels", "commonAnnotations",
})
# Fields that can change an LMEvalJob and that lint does not build: refused by name.
UNSUPPORTED_FIELDS = frozenset({
    "replacements", "vars", "transformers", "generators", "validators", "helmCharts", "helmGlobals",
    "helmChartInflationGenerator", "configurations", "crds", "openapi",
})
# Cluster-scoped kinds kustomize knows without a schema (no namespace is set on them).
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
    "StorageClass", "PriorityClass", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "Node",
})
Id = tuple[str, str, str, str]  # group/version, kind, effective namespace, name


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if is_file(candidate):
            return candidate
    return None


@dataclass
class Built:
    documents: list[Document] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    _: KW_ONLY
    notes: list[str] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)  # every file the build read (not linted on their own)
    kustomizations: set[Path] = field(default_factory=set)  # directories built as bases


def build(directory: Path) -> Built:
    result = Built()
    resources = _Builder(result, directory).kustomization(real_path(directory), depth=0)
    result.documents = [r.doc for r in resources]
    return result


class BuildError(Exception):
    """A kustomization kustomize would refuse: recorded against its file, the build goes on."""

    def __init__(self, file: str, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.error = InputError(file, message, line, column)


# -- resources and their identity --------------------------------------------------------------------
@dataclass
class _Resource:
    doc: Document
    previous: list[Id] = field(default_factory=list)  # kustomize's previous ids, oldest first

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data  # type: ignore[no-any-return]

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    def current(self) -> Id:
        kind = str(self.data.get("kind", ""))
        return (str(self.data.get("apiVersion", "")), kind,
                _effective_namespace(kind, self.meta.get("namespace")), str(self.meta.get("name", "")))

    def original(self) -> Id:
        return self.previous[0] if self.previous else self.current()

    def remember(self) -> None:
        self.previous.append(self.current())


def _effective_namespace(kind: str, namespace: Any) -> str:
    if kind in CLUSTER_SCOPED:
        return ""
    return str(namespace) if namespace else "default"


def _merge_into(into: list[_Resource], new: list[_Resource], where: str) -> None:
    """Merge resources as kustomize's accumulator does: a second object with the same id is an error."""
    ids = {r.current() for r in into}
    for resource in new:
        if resource.current() in ids:
            _, kind, namespace, name = resource.current()
            raise BuildError(where, f"may not add resource with an already registered id: {kind} {namespace}/{name}")
        ids.add(resource.current())
        into.append(resource)


# -- the build ----------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, result: Built, display_root: Path) -> None:
        self.result = result
        self.display_root = display_root
        self.root_abs = real_path(display_root)

    def display(self, path: Path) -> str:
        """How a file is named in findings: as the user named the root, else relative to the cwd."""
        for base, shown in ((self.root_abs, self.display_root), (Path.cwd(), Path())):
            try:
                return str(shown / path.relative_to(base))
            except ValueError:
                continue
        return str(path)

    def load(self, path: Path) -> list[Document]:
        self.result.files.add(path)
        display = self.display(path)
        try:
            return list(load_documents(display, read_source(str(path))))
        except InputError as exc:
            if exc.file != display:
                exc = InputError(display, str(exc).split(": ", 1)[-1], exc.line, exc.column)
            self.result.errors.append(exc)
            return []

    def kustomization(self, directory: Path, depth: int, component_of: list[_Resource] | None = None,
                      ) -> list[_Resource]:
        """Build one kustomization (or, with component_of, apply a Component to those resources)."""
        if depth > MAX_DEPTH:
            self.result.errors.append(InputError(str(directory), "kustomization nesting too deep (a cycle?)"))
            return []
        kfile = kustomization_file(directory) if is_dir(directory) else None
        if kfile is None:
            what = "component" if component_of is not None else "directory in resources"
            self.result.errors.append(InputError(str(directory), why_missing(directory,
                                                                             f"{what} has no kustomization.yaml")))
            return []
        self.result.kustomizations.add(directory)
        docs = self.load(kfile)
        if not docs or not isinstance(docs[0].data, dict):
            return []
        kdoc = docs[0]
        resources = component_of if component_of is not None else []
        try:
            _check_fields(kdoc, component=component_of is not None)
            self.accumulate(kdoc, directory, depth, resources)
            _Transformers(self, kdoc, directory).run(resources)
        except BuildError as exc:
            self.result.errors.append(exc.error)
            return [] if component_of is None else resources  # never something kustomize would not build
        return resources

    def accumulate(self, kdoc: Document, directory: Path, depth: int, resources: list[_Resource]) -> None:
        k = kdoc.data
        for entry in _str_list(k.get("resources")) + _str_list(k.get("bases")):
            _merge_into(resources, self.resource(directory, entry, depth), kdoc.file)
        for entry in _str_list(k.get("components")):
            self.kustomization(real_path(directory / entry), depth + 1, component_of=resources)

    def resource(self, directory: Path, entry: str, depth: int) -> list[_Resource]:
        if re.match(r"^[a-z][a-z0-9+.-]*://", entry) or entry.startswith(("github.com/", "git@")):
            raise BuildError(str(directory), f"unsupported kustomize feature: remote resource {entry} (lint does "
                             f"not fetch it; lint `kubectl kustomize` output instead)")
        path = real_path(directory / entry)
        if is_dir(path):
            return self.kustomization(path, depth + 1)
        if not is_file(path):
            self.result.errors.append(InputError(str(directory / entry), why_missing(
                path, "resource listed in kustomization does not exist")))
            return []
        if not self.inside_root(directory, entry, path):
            return []
        return [_Resource(doc) for doc in self.load(path) if isinstance(doc.data, dict)]

    def inside_root(self, directory: Path, entry: str, path: Path) -> bool:
        """kustomize's load restrictor (LoadRestrictionsRootOnly): a *file* a kustomization names must be in
        or below its directory, links resolved; only bases and components (directories) may be elsewhere."""
        try:
            path.relative_to(directory)
            return True
        except ValueError:
            self.result.errors.append(InputError(str(directory / entry), f"security: file {path} is not in or "
                                                 f"below the kustomization root {directory} (kustomize refuses it)"))
            return False

    def patch_documents(self, entry: dict[str, Any], where: str, kdoc: Document, directory: Path) -> list[Document]:
        """The documents of a patch given by `path:` (a file) or inline `patch:` (positions in kustomization)."""
        if isinstance(entry.get("path"), str):
            path = real_path(directory / entry["path"])
            if not is_file(path):
                raise BuildError(str(directory / entry["path"]), why_missing(path, "patch file does not exist"))
            if not self.inside_root(directory, entry["path"], path):
                return []
            return self.load(path)
        if isinstance(entry.get("patch"), str):
            _, line, _ = kdoc.position(where)
            # A block scalar's content starts on the line after the `patch: |` indicator.
            offset = line if "\n" in entry["patch"] else line - 1
            try:
                return list(load_documents(kdoc.file, entry["patch"], origin_line_offset=offset))
            except InputError as exc:
                raise BuildError(exc.file, str(exc).split(": ", 1)[-1], exc.line, exc.column) from None
        raise BuildError(kdoc.file, f"{where}: must specify one of patch and path", *kdoc.position(where)[1:])


def _check_fields(kdoc: Document, component: bool) -> None:
    """What kustomize checks when it loads a kustomization file, before building anything."""
    kind = kdoc.data.get("kind") or "Kustomization"
    version = {"Kustomization": "kustomize.config.k8s.io/v1beta1", "Component": "kustomize.config.k8s.io/v1alpha1"}
    if kind not in version:
        raise BuildError(kdoc.file, "kind should be Kustomization or Component")
    if kdoc.data.get("apiVersion") and kdoc.data["apiVersion"] != version[kind]:
        raise BuildError(kdoc.file, f"apiVersion for {kind} should be {version[kind]}")
    if all(value is None for key, value in kdoc.data.items() if key not in ("apiVersion", "kind")):
        raise BuildError(kdoc.file, "kustomization.yaml is empty")
    if component != (kind == "Component"):
        expected = "kind 'Component'" if component else "kind != 'Component'"
        raise BuildError(kdoc.file, f"expected {expected} but got '{kind}'")
    for key in kdoc.data:
        _, line, column = kdoc.position(key)
        if key in UNSUPPORTED_FIELDS:
            raise BuildError(kdoc.file, f"unsupported kustomize feature {key}: lint does not build it "
                             f"(lint `kubectl kustomize DIR` output instead)", line, column)
        if key not in BUILT_FIELDS and key not in IGNORED_FIELDS:
            raise BuildError(kdoc.file, f"invalid Kustomization: unknown field {key!r}", line, column)


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dict_of_str(value: Any, what: str, kdoc: Document) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BuildError(kdoc.file, f"{what} must map names to strings", *kdoc.position(what)[1:])
    return {str(k): v for k, v in value.items()}


# -- transformers, in kustomize's order ---------------------------------------------------------------
class _Transformers:
    def __init__(self, builder: _Builder, kdoc: Document, directory: Path) -> None:
        self.builder = builder
        self.kdoc = kdoc
        self.k: dict[str, Any] = kdoc.data
        self.directory = directory

    def run(self, resources: list[_Resource]) -> None:
        steps: list[Callable[[list[_Resource]], None]] = [
            self.legacy_strategic_merge, self.patches, self.namespace, self.name_prefix_suffix, self.labels,
            self.annotations, self.legacy_json6902,
        ]
        for step in steps:
            step(resources)

    def entries(self, key: str) -> Iterator[tuple[int, Any]]:
        value = self.k.get(key)
        if value is not None and not isinstance(value, list):
            raise BuildError(self.kdoc.file, f"{key} must be a list", *self.kdoc.position(key)[1:])
        yield from enumerate(value or [])

    def legacy_strategic_merge(self, resources: list[_Resource]) -> None:
        for i, entry in self.entries("patchesStrategicMerge"):
            if not isinstance(entry, str):
                continue
            # kustomize reads an entry naming a readable file as a path, anything else as an inline patch.
            is_path = is_file(self.directory / entry) if "\n" not in entry else False
            holder = {"path": entry} if is_path else {"patch": entry}
            where = f"patchesStrategicMerge[{i}]"
            for doc in self.builder.patch_documents(holder, where, self.kdoc, self.directory):
                _patch_by_id(resources, doc, through_resmap=True)

    def patches(self, resources: list[_Resource]) -> None:
        for i, entry in self.entries("patches"):
            if not isinstance(entry, dict):
                continue
            where = f"patches[{i}]"
            if entry.get("options"):
                raise BuildError(self.kdoc.file, f"unsupported kustomize feature {where}.options (allowNameChange/"
                                 "allowKindChange)", *self.kdoc.position(join(where, "options"))[1:])
            docs = self.builder.patch_documents(entry, join(where, "patch"), self.kdoc, self.directory)
            target = _target(entry, where, self.kdoc)
            if len(docs) == 1 and isinstance(docs[0].data, list):
                if target is None:
                    raise BuildError(docs[0].file, "must specify a target for JSON patch", *docs[0].position("")[1:])
                for resource in _select(resources, target, self.kdoc, where):
                    resource.remember()  # a JSON patch may rename: kustomize keeps the old id
                    _json6902(resource, docs[0])
                continue
            if target is not None and len(docs) > 1:
                raise BuildError(docs[0].file, "Multiple Strategic-Merge Patches in one `patches` entry is not "
                                 "allowed to set `patches.target` field")
            for doc in docs:
                if target is None:
                    _patch_by_id(resources, doc)
                else:
                    _patch_selected(resources, _select(resources, target, self.kdoc, where), _as_targeted(doc))

    def legacy_json6902(self, resources: list[_Resource]) -> None:
        for i, entry in self.entries("patchesJson6902"):
            if not isinstance(entry, dict):
                continue
            where = f"patchesJson6902[{i}]"
            target = _target(entry, where, self.kdoc)
            if target is None or not target.get("name"):
                raise BuildError(self.kdoc.file, f"{where}: must specify the target name",
                                 *self.kdoc.position(where)[1:])
            docs = self.builder.patch_documents(entry, join(where, "patch"), self.kdoc, self.directory)
            if not docs or not isinstance(docs[0].data, list) or not docs[0].data:
                raise BuildError(self.kdoc.file, f"{where}: the patch is not a list of JSON 6902 operations",
                                 *self.kdoc.position(where)[1:])
            for resource in _select(resources, target, self.kdoc, where):
                _json6902(resource, docs[0])

    def namespace(self, resources: list[_Resource]) -> None:
        namespace = self.k.get("namespace")
        if not isinstance(namespace, str) or not namespace:
            return
        for resource in resources:
            resource.remember()
            if resource.data.get("kind") not in CLUSTER_SCOPED:
                self.set_meta(resource, "namespace", namespace, "namespace")
        _unique(resources, self.kdoc.file, "namespace transformation produces ID conflict")

    def name_prefix_suffix(self, resources: list[_Resource]) -> None:
        for key in ("namePrefix", "nameSuffix"):
            affix = self.k.get(key)
            if not isinstance(affix, str) or not affix:
                continue
            for resource in resources:
                name = resource.meta.get("name")
                if not isinstance(name, str):
                    continue
                resource.remember()
                new = f"{affix}{name}" if key == "namePrefix" else f"{name}{affix}"
                self.set_meta(resource, "name", new, key)

    def labels(self, resources: list[_Resource]) -> None:
        """`labels` entries in order, then `commonLabels` (which wins a clash, as in kustomize's build)."""
        for i, entry in self.entries("labels"):
            if not isinstance(entry, dict):
                continue
            where = f"labels[{i}]"
            if entry.get("fields"):
                raise BuildError(self.kdoc.file, f"unsupported kustomize feature {where}.fields",
                                 *self.kdoc.position(join(where, "fields"))[1:])
            pairs = join(where, "pairs")
            self.add_to_map(resources, "labels", {key: (value, join(pairs, key)) for key, value in
                                                  _dict_of_str(entry.get("pairs"), pairs, self.kdoc).items()})
        common = _dict_of_str(self.k.get("commonLabels"), "commonLabels", self.kdoc)
        self.add_to_map(resources, "labels", {key: (value, join("commonLabels", key)) for key, value in common.items()})

    def annotations(self, resources: list[_Resource]) -> None:
        common = _dict_of_str(self.k.get("commonAnnotations"), "commonAnnotations", self.kdoc)
        self.add_to_map(resources, "annotations",
                        {key: (value, join("commonAnnotations", key)) for key, value in common.items()})

    def add_to_map(self, resources: list[_Resource], key: str, pairs: dict[str, tuple[str, str]]) -> None:
        if not pairs:
            return
        for resource in resources:
            meta = _metadata(resource)
            if not isinstance(meta.get(key), dict):
                meta[key] = {}
            for name, (value, where) in pairs.items():
                meta[key][name] = value
                resource.doc.positions[f"metadata.{key}.{name}"] = self.kdoc.position(where)

    def set_meta(self, resource: _Resource, key: str, value: str, where: str) -> None:
        _metadata(resource)[key] = value
        resource.doc.positions[f"metadata.{key}"] = self.kdoc.position(where)


def _metadata(resource: _Resource) -> dict[str, Any]:
    if not isinstance(resource.data.get("metadata"), dict):
        resource.data["metadata"] = {}
    return resource.data["metadata"]  # type: ignore[no-any-return]


def _unique(resources: list[_Resource], file: str, message: str) -> None:
    ids = [r.current() for r in resources]
    if len(set(ids)) != len(ids):
        raise BuildError(file, message)


# -- selecting resources -----------------------------------------------------------------------------
def _target(entry: dict[str, Any], where: str, kdoc: Document) -> dict[str, Any] | None:
    target = entry.get("target")
    if target is None:
        return None
    if not isinstance(target, dict):
        raise BuildError(kdoc.file, f"{where}.target must be a mapping", *kdoc.position(join(where, "target"))[1:])
    return target


def _select(resources: list[_Resource], target: dict[str, Any], kdoc: Document, where: str) -> list[_Resource]:
    """kustomize's Select: anchored regexes; name and namespace match the original or the current id."""
    try:
        patterns = {key: re.compile(f"^(?:{target[key]})$") for key in ("group", "version", "kind", "name",
                                                                          "namespace") if target.get(key)}
        return [r for r in resources if _selected(r, target, patterns)]
    except (re.error, ValueError) as exc:
        raise BuildError(kdoc.file, f"{where}.target: {exc}", *kdoc.position(join(where, "target"))[1:]) from None


def _selected(resource: _Resource, target: dict[str, Any], patterns: dict[str, re.Pattern[str]]) -> bool:
    def matches(key: str, *values: str) -> bool:
        return key not in patterns or any(patterns[key].match(v) for v in values)

    original, current = resource.original(), resource.current()
    group, _, version = current[0].rpartition("/")
    if not (matches("namespace", original[2], current[2]) and matches("name", original[3], current[3])
            and matches("group", group) and matches("version", version) and matches("kind", current[1])):
        return False
    for key, field_name in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        selector = target.get(key)
        if selector:
            values = resource.meta.get(field_name)
            if not selector_matches(str(selector), values if isinstance(values, dict) else {}):
                return False
    return True


_TERM = re.compile(
    r"^\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|=|!=|>|<)\s*(?P<value>[-A-Za-z0-9_.]*)|\s(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?\s*$")


def selector_matches(selector: str, labels: dict[str, Any]) -> bool:
    """A Kubernetes label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1`) against labels.
    Raises ValueError on a selector Kubernetes would reject."""
    for term in re.split(r",(?![^()]*\))", selector):
        match = _TERM.match(term)
        if match is None or (match["not"] and (match["op"] or match["set"])):
            raise ValueError(f"unable to parse requirement {term.strip()!r} of label selector {selector!r}")
        key = match["key"]
        present = key in labels
        actual = str(labels.get(key, ""))
        if match["not"]:
            ok = not present
        elif match["set"]:
            values = {v.strip() for v in match["values"].split(",")}
            if values == {""}:
                raise ValueError(f"for 'in', 'notin' operators, values set can't be empty: {term.strip()!r}")
            ok = present and actual in values if match["set"] == "in" else not present or actual not in values
        elif match["op"] in ("=", "=="):
            ok = present and actual == match["value"]
        elif match["op"] == "!=":
            ok = not present or actual != match["value"]
        elif match["op"] in (">", "<"):
            ok = present and _int_compare(actual, match["value"], match["op"], term)
        else:
            ok = present
        if not ok:
            return False
    return True


def _int_compare(actual: str, wanted: str, op: str, term: str) -> bool:
    if not re.fullmatch(r"-?\d+", wanted):
        raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer: {term.strip()!r}")
    if not re.fullmatch(r"-?\d+", actual):
        return False
    return int(actual) > int(wanted) if op == ">" else int(actual) < int(wanted)


# -- strategic merge ---------------------------------------------------------------------------------
def _patch_id(doc: Document) -> Id:
    data = doc.data if isinstance(doc.data, dict) else {}
    meta: dict[str, Any] = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    kind = str(data.get("kind", ""))
    return (str(data.get("apiVersion", "")), kind, _effective_namespace(kind, meta.get("namespace")),
            str(meta.get("name", "")))


def _patch_by_id(resources: list[_Resource], doc: Document, through_resmap: bool = False) -> None:
    """A patch without target applies to the one resource that has (or had) the patch's id. (kustomize
    applies legacy patchesStrategicMerge through its resource map, as targeted patches: `_as_targeted`.)"""
    if not isinstance(doc.data, dict):
        raise BuildError(doc.file, "a strategic-merge patch must be a mapping", *doc.position("")[1:])
    wanted = _patch_id(doc)
    matching = [r for r in resources if wanted in [*r.previous, r.current()]]
    if len(matching) != 1:
        what = "no resource matches" if not matching else "multiple resources match"
        _, kind, namespace, name = wanted
        raise BuildError(doc.file, f"{what} strategic merge patch {kind} {namespace}/{name}", *doc.position("")[1:])
    _patch_selected(resources, matching, _as_targeted(doc) if through_resmap else doc)


def _as_targeted(doc: Document) -> Document:
    """kustomize's resource map copies a patch's labels and annotations through a map of strings first, so
    `env: null` there sets the label to "null" instead of removing it (`~` is "~" there; lint sees "null")."""
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    if not isinstance(meta, dict):
        return doc
    stringified = dict(meta)
    for key in ("labels", "annotations"):
        if isinstance(meta.get(key), dict):
            stringified[key] = {k: _scalar_text(v) for k, v in meta[key].items()}
    return Document(doc.file, doc.index, data={**doc.data, "metadata": stringified}, positions=doc.positions,
                    duplicates=doc.duplicates)


def _scalar_text(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value) if isinstance(value, int | float) else value


def _patch_selected(resources: list[_Resource], selected: list[_Resource], doc: Document) -> None:
    if not isinstance(doc.data, dict):
        raise BuildError(doc.file, "a strategic-merge patch must be a mapping", *doc.position("")[1:])
    for resource in selected:
        kind, meta = resource.data.get("kind"), resource.meta
        name, namespace = meta.get("name"), meta.get("namespace")
        patch = {k: v for k, v in doc.data.items() if k not in ("apiVersion", "kind")}
        merged = _smp(resource.data, patch, resource.doc, doc, "")
        if not merged:  # `$patch: delete` at the top removes the resource
            resources.remove(resource)
            continue
        resource.doc.data = merged
        merged["kind"] = kind  # kind, name and namespace never change through a patch
        restored = _metadata(resource)
        for key, value in (("name", name), ("namespace", namespace)):
            if value is None:
                restored.pop(key, None)
            else:
                restored[key] = value


def _smp(base: Any, patch: Any, obj: Document, pdoc: Document, path: str) -> Any:
    """Strategic-merge `patch` into `base` as kyaml does without a schema, moving positions."""
    directive = patch.get("$patch") if isinstance(patch, dict) else None
    if directive == "delete":
        return None
    if isinstance(patch, dict) and directive != "replace":
        base = base if isinstance(base, dict) else {}  # a new map sheds its nulls and directives too
        out = dict(base)
        for key, value in patch.items():
            if key == "$patch":
                continue
            sub = join(path, key)
            merged = None if value is None else _smp(base.get(key), value, obj, pdoc, sub)
            if merged is None:  # null, or `$patch: delete`, removes the field
                out.pop(key, None)
            else:
                out[key] = merged
                _take_position(obj, pdoc, sub, value)
        return out
    # Lists are replaced (a custom resource has no merge keys), scalars and type changes too.
    _move_positions(obj, pdoc, path)
    return _strip_directives(copy.deepcopy(patch))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _take_position(obj: Document, pdoc: Document, path: str, value: Any) -> None:
    if not isinstance(value, dict | list) and path in pdoc.positions:
        obj.positions[path] = pdoc.positions[path]


def _drop_positions(obj: Document, path: str) -> None:
    for p in [p for p in obj.positions if p == path or p.startswith((path + ".", path + "["))]:
        del obj.positions[p]


def _move_positions(obj: Document, pdoc: Document, path: str) -> None:
    """The subtree at `path` now comes from the patch: drop old positions, copy the patch's."""
    _drop_positions(obj, path)
    for p, pos in pdoc.positions.items():
        if p == path or p.startswith((path + ".", path + "[")):
            obj.positions[p] = pos


# -- JSON 6902 ---------------------------------------------------------------------------------------
# RFC 6902 as kustomize's library (evanphx/json-patch v4) applies it, not with the `jsonpatch` package:
# lint's install (the pre-commit hook's) is click and PyYAML only, and v4 has its own rules that the
# differential test holds us to: `replace` of a missing map key adds it, negative array indexes count from
# the end, a test of a missing key passes when the value is null, no op may address the whole document.
def _json6902(resource: _Resource, pdoc: Document) -> None:
    """Apply the ops in order (kustomize fails the build on any failing op, `test` included)."""
    for i, op in enumerate(pdoc.data):
        try:
            if not isinstance(op, dict):
                raise ValueError("an operation must be a mapping")
            resource.doc.data = _apply_op(resource.doc.data, op)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            _, line, column = pdoc.position(f"[{i}]")
            summary = f"{op.get('op')} {op.get('path')}" if isinstance(op, dict) else repr(op)
            raise BuildError(pdoc.file, f"JSON patch op {summary} failed: {exc}", line, column) from None
        dotted = _dotted(str(op.get("path", "")), resource.doc.data)
        if op.get("op") == "move":
            _drop_positions(resource.doc, _dotted(str(op["from"]), resource.doc.data))
        _drop_positions(resource.doc, dotted)
        resource.doc.positions[dotted] = pdoc.position(f"[{i}].value" if "value" in op else f"[{i}]")


def _apply_op(data: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    if kind == "test":
        return _test(data, op)
    if kind == "replace" and op.get("path") == "":
        if not isinstance(op.get("value"), dict | list):
            raise ValueError("replace operation value must be object or array")
        return copy.deepcopy(op["value"])
    if kind not in ("add", "remove", "replace", "move", "copy"):
        raise ValueError(f"Unexpected kind: {kind}")
    if kind in ("move", "copy"):
        source, key = _container(data, op, "from")
        value = _get(source, key)
        if kind == "move":
            _remove(source, key)
        target, key = _container(data, op, "path")
        _add(target, key, copy.deepcopy(value))
        return data
    target, key = _container(data, op, "path")
    if kind == "remove":
        _remove(target, key)
    elif kind == "add":
        _add(target, key, copy.deepcopy(op.get("value")))
    else:
        _get(target, key)  # an array index must exist; a map key need not
        _set(target, key, copy.deepcopy(op.get("value")))
    return data


def _container(data: Any, op: dict[str, Any], field_name: str) -> tuple[dict[str, Any] | list[Any], str]:
    """The map or array holding the pointer's last token, and that token (v4's findObject)."""
    pointer = op.get(field_name)
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise ValueError(f"{field_name} is not a JSON pointer: {pointer!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")]
    node = data
    for part in parts[1:-1]:
        node = node.get(part) if isinstance(node, dict) else _get(node, part) if isinstance(node, list) else None
    if len(parts) < 2 or not isinstance(node, dict | list):
        raise KeyError(f"doc is missing path {pointer!r}")
    return node, parts[-1]


def _index(node: list[Any], key: str, size: int) -> int:
    if not re.fullmatch(r"[+-]?\d+", key):
        raise IndexError(f"not an array index: {key!r}")
    index = int(key)
    if index >= size or index < -size:
        raise IndexError(f"invalid index {index}")
    return index + size if index < 0 else index


def _get(node: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    return node[_index(node, key, len(node))]


def _set(node: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    else:
        node[_index(node, key, len(node))] = value


def _add(node: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    elif key == "-":
        node.append(value)
    else:
        node.insert(_index(node, key, len(node) + 1), value)


def _remove(node: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(node, dict):
        if key not in node:
            raise KeyError(f"Unable to remove nonexistent key: {key}")
        del node[key]
    else:
        node.pop(_index(node, key, len(node)))


def _test(data: Any, op: dict[str, Any]) -> Any:
    if op.get("path") == "":
        actual = data
    else:
        container, key = _container(data, op, "path")
        actual = _get(container, key)
    if json.dumps(actual, sort_keys=True) != json.dumps(op.get("value"), sort_keys=True):
        raise ValueError("testing value failed")
    return data


def _dotted(pointer: str, data: Any) -> str:
    """A JSON pointer as the loader's dotted path (`/spec/modelArgs/0/value` -> `spec.modelArgs[0].value`)."""
    path, node = "", data
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            index = len(node) - 1 if part == "-" else int(part) if part.isdigit() else 0
            path = join(path, index)
            node = node[index] if 0 <= index < len(node) else None
        else:
            path = join(path, part)
            node = node.get(part) if isinstance(node, dict) else None
    return path
