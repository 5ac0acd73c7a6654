"""lint: LMEvalJob manifests -> Findings with file:line:column, offline (and optionally cluster-aware).

Inputs are files, directories (recursively; *.yaml / *.yml), kustomize directories (built with
lint.kustomize), and '-' for stdin. Documents that are not LMEvalJobs are skipped. Input problems
(unreadable, binary, too large, malformed YAML) are collected as `errors`, one per file; they never
stop the other files from being linted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.lint.loader import STDIN, Document, InputError, load_documents, read_source
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.rules.finding import Evidence, Finding, Target
from lmeval_setup.rules.spec import is_lmevaljob, spec_findings, target_for
from lmeval_setup.safeio import is_dir, is_file, real_path, why_missing

YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"})


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _: KW_ONLY
    notes: list[str] = field(default_factory=list)
    checked: list[Target] = field(default_factory=list)  # every LMEvalJob linted
    jobs: list[Document] = field(default_factory=list)  # the LMEvalJob documents (for --cluster)
    files: int = 0
    # Text of the files read directly (stdin included), for inline `# lmeval-setup: ignore=` comments.
    sources: dict[str, str] = field(default_factory=dict)


def lint_paths(paths: Sequence[str], permissions: Permissions | None = None,
               selector: str | None = None) -> LintResult:
    """`selector` (lint -l): only LMEvalJobs whose metadata.labels match it are linted, as doctor -l narrows
    the jobs it checks; the others are skipped as documents of other kinds are."""
    result = LintResult()
    for document in _documents(paths, result):
        if is_lmevaljob(document.data) and _selected(document, selector):
            result.jobs.append(document)
            result.findings.extend(lint_document(document, permissions))
            result.checked.append(_target(document, document.position("")))
    return result


def _selected(document: Document, selector: str | None) -> bool:
    if not selector:
        return True
    from lmeval_setup.lint.kustomize import selector_matches

    metadata = document.data.get("metadata") if isinstance(document.data, dict) else None
    labels = (metadata or {}).get("labels") if isinstance(metadata, dict) else None
    return selector_matches(selector, labels if isinstance(labels, dict) else {})


def lint_text(text: str, file: str = "<text>", permissions: Permissions | None = None) -> LintResult:
    """Lint YAML given as a string (tests, the fuzzer, editors)."""
    result = LintResult(files=1, sources={file: text})
    try:
        for document in load_documents(file, text):
            if is_lmevaljob(document.data):
                result.jobs.append(document)
                result.findings.extend(lint_document(document, permissions))
                result.checked.append(_target(document, document.position("")))
    except InputError as exc:
        result.errors.append(str(exc))
    return result


def lint_document(document: Document, permissions: Permissions | None = None, release: Any = None) -> list[Finding]:
    """Spec findings for one LMEvalJob document, each placed at the line of its evidence path (judged by
    `release`'s LMEvalJob CRD when the cluster's line is known: lint --cluster)."""
    findings = [_placed(f, document) for f in spec_findings(document.data, permissions, release=release)]
    for dup in document.duplicates:
        position = document.position(dup)
        findings.append(Finding(
            "LME015", _target(document, position),
            message=f"{dup} is given twice; kubectl rejects duplicate keys (and other tools keep only the last)",
            evidence=(Evidence("spec", dup, path=dup, line=position[1], column=position[2]),),
        ))
    return findings


def _placed(finding: Finding, document: Document) -> Finding:
    path = finding.evidence[0].path if finding.evidence else None
    position = document.position(path)
    evidence = tuple(
        dataclasses.replace(ev, line=document.position(ev.path)[1], column=document.position(ev.path)[2])
        if ev.source == "spec" else ev
        for ev in finding.evidence
    )
    return dataclasses.replace(finding, target=_target(document, position), evidence=evidence)


def _target(document: Document, position: tuple[str, int, int]) -> Target:
    base = target_for(document.data) if isinstance(document.data, dict) else Target(kind="LMEvalJob")
    file, line, column = position
    return dataclasses.replace(base, file=file, line=line, column=column)


# -- input discovery ---------------------------------------------------------------------------------
def _documents(paths: Sequence[str], result: LintResult) -> Iterator[Document]:
    owners = _kustomize_owners(paths)
    done: set[Path] = set()
    for raw in paths:
        if raw == STDIN:
            yield from _file_documents(STDIN, result)
            continue
        path = Path(raw)
        if is_dir(path):
            yield from _directory_documents(path, result)
        elif path.name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
            yield from _kustomize_documents(path.parent, result)
        elif raw in owners:
            root, built = owners[raw]
            if root not in done:
                done.add(root)
                yield from _record(built, result)
        elif os.path.lexists(path):  # a dangling link or a loop too: the read names why it cannot be read
            yield from _file_documents(raw, result)
        else:
            result.errors.append(f"{raw}: {why_missing(path, 'no such file or directory')}")


def _kustomize_owners(paths: Sequence[str]) -> dict[str, tuple[Path, Any]]:
    """Given files (as pre-commit passes the changed ones), the kustomization each one belongs to.

    A patch is not a manifest: judged alone it gets findings for what its base provides. So a file
    that a kustomization at or above it (up to the working directory) reads is linted through that
    build, once, and a base is linted through the overlay that uses it, as in a directory walk.
    """
    from lmeval_setup.lint.kustomize import build, kustomization_file

    cwd = real_path(Path.cwd())
    builds: dict[Path, Any] = {}
    owners: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        if raw == STDIN or not is_file(path) or path.name in ("kustomization.yaml", "kustomization.yml",
                                                              "Kustomization"):
            continue
        resolved = real_path(path)
        for directory in resolved.parents:
            if directory != cwd and cwd not in directory.parents:
                break  # never above the working directory: a repository's files only
            if kustomization_file(directory) is None:
                continue
            if directory not in builds:
                builds[directory] = build(directory)
            if resolved in builds[directory].files:
                owners[raw] = directory
                break
    used = set(owners.values())
    absorbed = {base: root for root in used for base in builds[root].kustomizations if base in used and base != root}

    def outermost(root: Path) -> Path:
        seen = {root}
        while root in absorbed and absorbed[root] not in seen:
            root = absorbed[root]
            seen.add(root)
        return root

    return {raw: (outermost(root), builds[outermost(root)]) for raw, root in owners.items()}


def _record(built: Any, result: LintResult) -> list[Document]:
    result.files += len(built.files)
    result.errors.extend(str(e) for e in built.errors)
    result.notes.extend(built.notes)
    return list(built.documents)


def _file_documents(file: str, result: LintResult) -> Iterator[Document]:
    result.files += 1
    try:
        text = read_source(file)
        # Materialise per file so a syntax error late in a file reports once, without partial output.
        documents = list(load_documents(file, text))
    except InputError as exc:
        result.errors.append(str(exc))
        return
    if file == STDIN or any(is_lmevaljob(d.data) for d in documents):
        # Kept for the inline suppression comments of the findings: only LMEvalJobs have findings, so a tree
        # of other manifests is not held in memory (stdin cannot be read again).
        result.sources[file] = text
    yield from documents


def _directory_documents(root: Path, result: LintResult) -> Iterator[Document]:
    from lmeval_setup.lint.kustomize import kustomization_file

    if kustomization_file(root) is not None:
        yield from _kustomize_documents(root, result)
        return
    kustomize_roots, plain = _scan(root)
    covered: set[Path] = set()
    built_dirs: set[Path] = set()
    outputs = []
    for kroot in kustomize_roots:
        built = _build(kroot, result)
        covered |= built.files
        built_dirs |= {d for d in built.kustomizations if d != real_path(kroot)}
        outputs.append((kroot, built))
    for kroot, built in outputs:
        # A base that another kustomization in the tree uses is linted through that overlay only.
        if real_path(kroot) in built_dirs:
            continue
        yield from built.documents
    for file in plain:
        if real_path(file) not in covered:
            yield from _file_documents(str(file), result)


def _scan(root: Path) -> tuple[list[Path], list[Path]]:
    """Kustomization directories, and YAML files outside any of them, under root (sorted)."""
    from lmeval_setup.lint.kustomize import kustomization_file

    kustomize_roots: list[Path] = []
    plain: list[Path] = []
    for current, dirs, files in walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        here = Path(current)
        if kustomization_file(here) is not None:
            kustomize_roots.append(here)
            dirs[:] = []  # its files belong to the build; nested bases are reached through it or below
            continue
        plain.extend(here / f for f in sorted(files) if f.endswith(YAML_SUFFIXES))
    return kustomize_roots, plain


def walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk (top-down, links to directories listed but not entered) with a stack instead of recursion:
    Python 3.11's os.walk recurses, so a directory tree 1,000 levels deep ended in RecursionError (exit 70).
    Like os.walk, the caller may prune `dirs` in place; unreadable directories are skipped."""
    stack = [str(root)]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        dirs = [e.name for e in entries if _is_dir(e)]
        files = [e.name for e in entries if not _is_dir(e)]
        yield here, dirs, files
        stack.extend(path for path in (os.path.join(here, d) for d in reversed(dirs)) if not os.path.islink(path))


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _build(root: Path, result: LintResult):  # type: ignore[no-untyped-def]
    from lmeval_setup.lint.kustomize import build

    built = build(root)
    result.files += len(built.files)
    result.errors.extend(str(e) for e in built.errors)
    result.notes.extend(built.notes)
    return built


def _kustomize_documents(root: Path, result: LintResult) -> Iterable[Document]:
    return _build(root, result).documents
