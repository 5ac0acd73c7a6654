"""`lmeval-setup rules`: the rule catalog (ID, name, severity, automatic fix, title), as `k8sgpt filters list`.

The same data as docs/rules.md, from the same table (lmeval_setup.rules.catalog), for scripts (-o json|yaml,
schema docs/schemas/rules.schema.json) and for people choosing what to --ignore.
"""

from __future__ import annotations

from typing import Any

import click

from lmeval_setup.cli.common import output_option
from lmeval_setup.cli.completion import complete_rule_ids

SCHEMA = "lmeval-setup/rules"
SCHEMA_VERSION = 1


def rules_document(selected: frozenset[str] | None = None) -> dict[str, Any]:
    """Every rule (or the selected IDs) in catalog order, with how its finding is fixed."""
    from lmeval_setup.rules.catalog import RULES

    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "rules": [
            {"id": r.id, "name": r.slug, "severity": r.severity, "title": r.title,
             "autofix": r.autofix.kind, "docs": r.docs}
            for r in RULES.values() if selected is None or r.id in selected
        ],
    }


def _text(document: dict[str, Any]) -> str:
    rows = [("ID", "NAME", "SEVERITY", "FIX", "TITLE")]
    rows += [(r["id"], r["name"], r["severity"], r["autofix"], r["title"]) for r in document["rules"]]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4] + "\n"
        for row in rows
    )


def _resolve(names: tuple[str, ...]) -> frozenset[str]:
    from lmeval_setup.errors import UsageError
    from lmeval_setup.rules.catalog import RULES, RULES_BY_SLUG

    resolved: set[str] = set()
    for name in filter(None, (part.strip() for raw in names for part in raw.split(","))):
        found = RULES.get(name.upper()) or RULES_BY_SLUG.get(name.lower())
        if found is None:
            raise UsageError(f"rules: unknown rule {name!r}", hint="rule IDs look like LME002")
        resolved.add(found.id)
    return frozenset(resolved)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1, shell_complete=complete_rule_ids)
@output_option("text", "json", "yaml")
def rules(names: tuple[str, ...], output: str) -> None:
    """List the rule catalog: ID, name, severity, automatic fix (job-patch, bootstrap, manual), title.

    NAMES (IDs or names, any case, comma-separated allowed) narrows the list; an unknown one is a usage error.
    """
    from lmeval_setup.report.structured import dump

    selected = _resolve(names) if names else None
    document = rules_document(selected)
    click.echo(_text(document) if output == "text" else dump(document, output), nl=False)
