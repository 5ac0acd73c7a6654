"""lint --fix: the fix engine on manifests, written back where each value was set.

Values come from the manifests alone (no cluster): the endpoint path per model type, and a tokenizer
only when another job in the same inputs names the served model's repo (or an InferenceService manifest
among the inputs says it). Everything else stays a finding with its manual fix.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.fix import values as V
from lmeval_setup.fix.engine import NAMED_LISTS, plan_job
from lmeval_setup.fix.yamledit import Edit, NotEditable, apply_edits
from lmeval_setup.lint.loader import Document, join, read_source
from lmeval_setup.rules.finding import Finding
from lmeval_setup.safeio import write_atomic


@dataclass
class FileFix:
    file: str
    before: str
    _: KW_ONLY
    after: str
    rules: list[str] = field(default_factory=list)

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(True), self.after.splitlines(True),
                                            f"a/{self.file}", f"b/{self.file}"))


@dataclass
class LintFixResult:
    files: list[FileFix] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fix_documents(jobs: list[Document], isvcs: list[dict[str, Any]] | None = None,
                  accept: Callable[[list[Finding]], list[Finding]] | None = None) -> LintFixResult:
    """Plan every job's fixes and turn them into per-file text edits (nothing is written here).

    `accept` narrows a document's findings to those the run reports as active (--ignore, --rule,
    suppressions): only those are fixed."""
    from lmeval_setup.lint import lint_document

    result = LintFixResult()
    planned: list[tuple[str, list[tuple[str, Edit]], list[str]]] = []
    for document in jobs:
        others = [d.data for d in jobs if d is not document]
        ctx = V.FixContext(inference_services=list(isvcs or []), sibling_jobs=others)
        findings = lint_document(document)
        plan = plan_job(document.data, accept(findings) if accept else findings, ctx)
        if not plan.changed:
            continue
        try:
            placed = _edits_for(document, plan.original, plan.fixed)
            _try(placed)  # all of a job's edits or none: half a fix can be worse than none
        except NotEditable as exc:
            result.notes.append(f"{document.file}: {plan.name}: not fixed: {exc}")
            continue
        planned.append((plan.name, placed, plan.fixed_rules))
    edits: dict[str, list[Edit]] = {}
    rules: dict[str, list[str]] = {}
    for _, placed, fixed_rules in planned:
        for file, edit in placed:
            if edit not in edits.setdefault(file, []):
                edits[file].append(edit)
            rules.setdefault(file, []).extend(r for r in fixed_rules if r not in rules[file])
    for file, file_edits in edits.items():
        if os.path.islink(file):  # rewriting would replace the link with a copy, leaving what it names unfixed
            result.notes.append(f"{file}: not fixed: a symbolic link (fix what it names, {os.path.realpath(file)})")
            continue
        before = read_source(file)
        try:
            after = apply_edits(before, file_edits)
        except NotEditable as exc:  # two jobs' edits that cannot be combined (a shared base)
            result.notes.append(f"{file}: not fixed: {exc}")
            continue
        if after != before:
            result.files.append(FileFix(file, before, after=after, rules=rules.get(file, [])))
    return result


def _try(placed: list[tuple[str, Edit]]) -> None:
    by_file: dict[str, list[Edit]] = {}
    for file, edit in placed:
        by_file.setdefault(file, []).append(edit)
    for file, file_edits in by_file.items():
        apply_edits(read_source(file), file_edits)


def write(fixes: LintFixResult, wrote: Callable[[FileFix], None]) -> None:
    """Replace each file whole (keeping its mode) and tell `wrote` at once: a file that cannot be written stops
    the run with one line (safeio.UnwritableOutput), after the files already fixed have been named."""
    for fix in fixes.files:
        write_atomic(Path(fix.file), fix.after, replace=True)
        wrote(fix)


def _edits_for(document: Document, before: Any, after: Any) -> list[tuple[str, Edit]]:
    out = []
    for kind, path, key, value in _changes(before, after, ""):
        # A value is addressed where it was set; an addition where its mapping or list was.
        if path not in document.positions:
            raise NotEditable(f"no position for {path or 'the document root'}")
        file, line, column = document.positions[path]
        add = None if kind == "set" else ("item" if kind == "append" else key)
        out.append((file, Edit((line, column), value, add)))
    return out


def _changes(before: Any, after: Any, path: str) -> list[tuple[str, str, str | None, Any]]:
    """("set", path, None, value) | ("add", parent, key, value) | ("append", list path, None, entry)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key, value in after.items():
            if key not in before:
                out.append(("add", path, key, value))
            elif before[key] != value:
                out += _changes(before[key], value, join(path, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and path.rsplit(".", 1)[-1] in NAMED_LISTS:
        index = {i.get("name"): n for n, i in enumerate(before) if isinstance(i, dict)}
        out = []
        for entry in after:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name in index:
                out += _changes(before[index[name]], entry, join(path, index[name]))
            else:
                out.append(("append", path, None, entry))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for n, (b, a) in enumerate(zip(before, after, strict=True)):
            if b != a:
                out += _changes(b, a, join(path, n))
        return out
    return [("set", path, None, after)]
