"""Write docs/rules.md from the rule catalog (the catalog is the source; this page is derived).

Run `python tools/gen_rules_doc.py` after changing lmeval_setup/rules/catalog.py or
lmeval_setup/rules/operator_messages.py; a unit test fails while the page is stale. The coverage section is
measured from the operator sources (tools/extract_operator_messages.py); where they or Go are absent the
section already on the page is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lmeval_setup.rules.catalog import RULES  # noqa: E402

TARGET = REPO / "docs" / "rules.md"
COVERAGE_HEADING = "## Coverage of the operator's messages"


def coverage_section() -> list[str]:
    """Per release line: how many distinct controller/driver messages map to a rule or are not user-facing."""
    sys.path.insert(0, str(REPO / "tools"))
    import extract_operator_messages as extractor

    from lmeval_setup.rules.operator_messages import mapping_for

    if not extractor.DEFAULT_SOURCES.is_dir():
        # Without ../shared only v1.38.0 (from the Go module cache) could be measured: keep the table that was
        # measured over every release line instead of shrinking it to one row.
        return _coverage_on_page()
    try:
        by_release = extractor.extract()
    except extractor.ExtractError:
        return _coverage_on_page()
    lines = [COVERAGE_HEADING, "",
             "Every message the LM-Eval controller can put in `status.message`/`reason`, every event it emits and "
             "every error the driver prints or returns, extracted from the operator sources of each release line "
             "by `tools/extract_operator_messages.py` (go/ast) and mapped in "
             "`lmeval_setup/rules/operator_messages.py`.",
             "",
             "| release line | messages | mapped to a rule | not user-facing | unmapped | coverage |",
             "|---|---|---|---|---|---|"]
    for release, messages in by_release.items():
        distinct = {(m.kind, m.text) for m in messages}
        mapped = [mapping_for(kind, text) for kind, text in distinct]
        ruled = sum(1 for m in mapped if m is not None and m.rule)
        quiet = sum(1 for m in mapped if m is not None and not m.rule)
        unmapped = len(distinct) - ruled - quiet
        share = 100 * (ruled + quiet) // max(len(distinct), 1)
        lines.append(f"| {release} | {len(distinct)} | {ruled} | {quiet} | {unmapped} | {share}% |")
    return lines


def _coverage_on_page() -> list[str]:
    if not TARGET.exists():
        return []
    text = TARGET.read_text()
    if COVERAGE_HEADING not in text:
        return []
    section = text.split(COVERAGE_HEADING, 1)[1].split("\n## ", 1)[0]
    return (COVERAGE_HEADING + section).rstrip("\n").split("\n")


def _fix_kind(rule: object) -> str:
    fix = rule.autofix  # type: ignore[attr-defined]
    return {"job-patch": "job patch", "bootstrap": "bootstrap"}.get(fix.kind, "manual")


def _fix_text(rule: object) -> str:
    """The catalog's fix data in words: the merge patch, what is filled in, what the cluster needs."""
    import json

    fix = rule.autofix  # type: ignore[attr-defined]
    if fix.kind == "manual":
        return "none (manual: the fix above)."
    if fix.kind == "bootstrap":
        flags = " ".join(fix.bootstrap_flags)
        return f"`lmeval-setup bootstrap {flags}`".replace(" `", "`") + " (doctor --fix runs it)."
    text = f"merge patch `{json.dumps(fix.patch)}` (lists of name/value entries merge by name)"
    if fix.only_missing:
        text += ", adding only the entries that are missing"
    if fix.fills:
        text += "; inferred per job: " + ", ".join(f"`{name}`" for name in fix.fills)
    if fix.needs_permission:
        text += f"; when the cluster does not permit {fix.needs_permission.replace('_', ' ')}, also " \
                f"`lmeval-setup bootstrap {' '.join(fix.bootstrap_flags)}`"
    return text + "."


def render() -> str:
    lines = [
        "# Rule catalog",
        "",
        "Generated from `lmeval_setup/rules/catalog.py` by `tools/gen_rules_doc.py`; do not edit by hand.",
        "The same rules serve `doctor` (live or must-gather), `lint` (manifests) and `provision`.",
        "IDs are stable: LME0xx are job-level causes, LME1xx cluster-level ones.",
        "",
        "The automatic fix column says what `doctor --fix`, `lint --fix` and `provision --fix` do (the fix",
        "data is in the catalog too): a job patch, a bootstrap run, or manual.",
        "",
        "| ID | slug | severity | automatic fix | title |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.id} | `{r.slug}` | {r.severity} | {_fix_kind(r)} | {r.title} |" for r in RULES.values()]
    coverage = coverage_section()
    if coverage:
        lines += ["", *coverage]
    for r in RULES.values():
        lines += ["", f"## {r.id} {r.slug}", "", f"**{r.title}** ({r.severity})", "", f"Why: {r.why}", "",
                  f"Fix: {r.fix}"]
        if r.example:
            lines += ["", "```", r.example, "```"]
        lines += ["", f"Automatic fix: {_fix_text(r)}"]
        lines += ["", f"Docs: {r.docs}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(TARGET.relative_to(REPO))
