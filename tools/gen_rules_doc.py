"""Write docs/rules.md from the rule catalog (the catalog is the source; this page is derived).

Run `python tools/gen_rules_doc.py` after changing lmeval_setup/rules/catalog.py; a unit test fails
while the page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lmeval_setup.rules.catalog import RULES  # noqa: E402

TARGET = REPO / "docs" / "rules.md"


def render() -> str:
    lines = [
        "# Rule catalog",
        "",
        "Generated from `lmeval_setup/rules/catalog.py` by `tools/gen_rules_doc.py`; do not edit by hand.",
        "The same rules serve `doctor` (live or must-gather), `lint` (manifests) and `provision`.",
        "IDs are stable: LME0xx are job-level causes, LME1xx cluster-level ones.",
        "",
        "| ID | slug | severity | title |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.id} | `{r.slug}` | {r.severity} | {r.title} |" for r in RULES.values()]
    for r in RULES.values():
        lines += ["", f"## {r.id} {r.slug}", "", f"**{r.title}** ({r.severity})", "", f"Why: {r.why}", "",
                  f"Fix: {r.fix}"]
        if r.example:
            lines += ["", "```", r.example, "```"]
        lines += ["", f"Docs: {r.docs}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(TARGET.relative_to(REPO))
