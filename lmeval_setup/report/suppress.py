"""Selecting and suppressing findings the way linters do: `--rule`, `--ignore`, a suppression file and inline
comments. A suppressed finding is not dropped: every output format still shows it with its reason (text:
a `suppressed` line; json/yaml: `suppressed: {reason, source}`; JUnit: a skipped case; SARIF: a
`suppressions` entry), and it never makes the exit code 1.

The suppression file, `.lmeval-setup.yaml` in the working directory (or `--suppressions FILE`):

    suppressions:
      - rule: LME029              # rule ID or slug (or a list of them); required
        namespace: ci-*           # optional glob on the namespace
        job: nightly-*            # optional glob on the LMEvalJob name (then only job findings match)
        reason: CI jobs are tuned per model in the pipeline   # required: a suppression says why

Inline, in a manifest lint reads: `# lmeval-setup: ignore=LME029[,LME002] -- the reason` on the finding's
line or on the line above it; in the comment block above a document's first key (its header) it covers the
whole document.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

from lmeval_setup import safeio
from lmeval_setup.errors import UsageError
from lmeval_setup.rules.catalog import RULES, RULES_BY_SLUG
from lmeval_setup.rules.finding import Finding, Suppression

DEFAULT_FILE = ".lmeval-setup.yaml"
MAX_FILE_BYTES = safeio.MiB
_ENTRY_KEYS = frozenset({"rule", "rules", "namespace", "job", "reason"})
INLINE = re.compile(r"#\s*lmeval-setup:\s*ignore=(?P<ids>[A-Za-z0-9_,-]+)(?:\s*(?:--|:)?\s*(?P<reason>.*))?$")


@dataclass(frozen=True)
class SuppressionRule:
    rules: frozenset[str]
    reason: str
    _: KW_ONLY
    source: str
    namespace: str | None = None
    job: str | None = None

    def matches(self, finding: Finding) -> bool:
        if finding.rule_id not in self.rules:
            return False
        target = finding.target
        if self.namespace is not None and not fnmatch.fnmatchcase(target.namespace or "", self.namespace):
            return False
        if self.job is not None:
            return target.kind == "LMEvalJob" and fnmatch.fnmatchcase(target.name, self.job)
        return True


def rule_ids(names: Iterable[str], flag: str) -> frozenset[str]:
    """IDs or slugs (any case, comma-separated allowed) -> rule IDs; an unknown one is a usage error."""
    out: set[str] = set()
    for raw in names:
        for name in filter(None, (part.strip() for part in str(raw).split(","))):
            found = RULES.get(name.upper()) or RULES_BY_SLUG.get(name.lower())
            if found is None:
                raise UsageError(f"{flag}: unknown rule {name!r}", hint="rule IDs look like LME002; see docs/rules.md")
            out.add(found.id)
    return frozenset(out)


def load_file(path: str | None) -> list[SuppressionRule]:
    """The suppression file: `path` if given (it must exist), else ./.lmeval-setup.yaml when present."""
    if path is None:
        if not Path(DEFAULT_FILE).is_file():
            return []
        path = DEFAULT_FILE
    data = safeio.load_yaml(safeio.read_text(path, limit=MAX_FILE_BYTES, display=path), path)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("suppressions", []), list):
        raise UsageError(f"{path}: expected a mapping with a 'suppressions' list")
    unknown = sorted(set(data) - {"suppressions"})
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)}", hint="known: suppressions")
    return [_entry(path, i, raw) for i, raw in enumerate(data.get("suppressions") or [])]


def _entry(path: str, index: int, raw: Any) -> SuppressionRule:
    where = f"{path}: suppressions[{index}]"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a mapping with rule and reason")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}",
                         hint=f"known: {', '.join(sorted(_ENTRY_KEYS))}")
    names = raw.get("rule", raw.get("rules"))
    if not names:
        raise UsageError(f"{where}: 'rule' is required (an ID like LME029 or a slug)")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise UsageError(f"{where}: 'reason' is required: a suppression says why")
    for key in ("namespace", "job"):
        if key in raw and not isinstance(raw[key], str):
            raise UsageError(f"{where}: '{key}' must be a string (a name or glob)")
    return SuppressionRule(rule_ids(names if isinstance(names, list) else [names], where), reason.strip(),
                           source=f"{path}#suppressions[{index}]", namespace=raw.get("namespace"), job=raw.get("job"))


def inline_suppressions(file: str, text: str) -> dict[int, tuple[frozenset[str], str, int]]:
    """Line -> (rule IDs, reason, comment line) for every `# lmeval-setup: ignore=...` comment: it covers its
    own line and the next one. Unknown IDs in a comment are a usage error naming the line."""
    out: dict[int, tuple[frozenset[str], str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if "lmeval-setup:" not in line:
            continue
        m = INLINE.search(line)
        if m is None:
            continue
        ids = rule_ids([m.group("ids")], f"{file}:{number}")
        reason = (m.group("reason") or "").strip() or "inline ignore comment"
        for covered in (number, number + 1):
            previous = out.get(covered)
            merged = ids | previous[0] if previous else ids
            out[covered] = (merged, reason, number)
    return out


def apply(findings: Sequence[Finding], file_rules: Sequence[SuppressionRule],
          inline: Callable[[Finding], Suppression | None] | None = None) -> list[Finding]:
    """Mark findings (never drop them): an inline comment first, then the first matching file entry."""
    out = []
    for finding in findings:
        suppression = inline(finding) if inline else None
        if suppression is None:
            entry = next((r for r in file_rules if r.matches(finding)), None)
            if entry is not None:
                suppression = Suppression(entry.reason, entry.source, "external")
        out.append(dataclasses.replace(finding, suppression=suppression) if suppression else finding)
    return out


def header_lines(text: str, root_line: int) -> range:
    """The lines of a document's header: the comment block right above its first key (up to `---`)."""
    lines = text.splitlines()
    first = root_line
    while first > 1:
        above = lines[first - 2].strip() if first - 2 < len(lines) else ""
        if above.startswith("---") or (above and not above.startswith("#")):
            break
        first -= 1
    return range(first, root_line)


Hit = tuple[frozenset[str], str, int]


class InlineIndex:
    """Inline comments of the files lint read, looked up by a finding's file and line.

    `documents` maps a file to the first-key lines of its documents (Document.position("")), so a
    comment in a document's header covers every finding of that document."""

    def __init__(self, sources: dict[str, str], documents: dict[str, list[int]] | None = None) -> None:
        self.sources = sources
        self.documents = {f: sorted(set(lines)) for f, lines in (documents or {}).items()}
        self._parsed: dict[str, tuple[dict[int, Hit], dict[int, Hit]]] = {}

    def _text(self, file: str) -> str | None:
        text = self.sources.get(file)
        if text is None and file != safeio.STDIN:
            try:
                text = safeio.read_text(file, limit=5 * safeio.MiB)
            except safeio.UnreadableInput:
                text = None
        return text

    def _comments(self, file: str) -> tuple[dict[int, Hit], dict[int, Hit]]:
        """(per line, per document root line) for one file."""
        if file not in self._parsed:
            text = self._text(file)
            per_line = inline_suppressions(file, text) if text else {}
            per_doc: dict[int, Hit] = {}
            for root in self.documents.get(file, []):
                for line in header_lines(text or "", root):
                    hit = per_line.get(line)
                    if hit is not None and hit[2] == line:  # the comment itself, not the line after one
                        previous = per_doc.get(root)
                        per_doc[root] = (hit[0] | previous[0], hit[1], hit[2]) if previous else hit
            self._parsed[file] = (per_line, per_doc)
        return self._parsed[file]

    def __call__(self, finding: Finding) -> Suppression | None:
        target = finding.target
        if not target.file or target.line is None:
            return None
        per_line, per_doc = self._comments(target.file)
        hit = per_line.get(target.line)
        if hit is None or finding.rule_id not in hit[0]:
            roots = [r for r in self.documents.get(target.file, []) if r <= target.line]
            hit = per_doc.get(roots[-1]) if roots else None
        if hit is None or finding.rule_id not in hit[0]:
            return None
        return Suppression(hit[1], f"{target.file}:{hit[2]}", "inSource")


def only_rules(findings: Iterable[Finding], rules: frozenset[str]) -> list[Finding]:
    """--rule: keep only these rules' findings (empty: all)."""
    return [f for f in findings if not rules or f.rule_id in rules]


def active(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that count (for the exit code, --fix): not suppressed."""
    return [f for f in findings if f.suppression is None]
