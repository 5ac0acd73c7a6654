"""`--rule`, `--suppressions` (and `-l/--selector` of doctor, lint and results): which findings a run reports
and which it accepts.

`--ignore` (cli.common.findings_options) drops a rule everywhere; `--rule` keeps only the named ones; the
suppression file and inline comments (report.suppress) accept findings with a reason, still shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from lmeval_setup.rules.finding import Finding, Suppression

F = TypeVar("F", bound=Callable[..., Any])


def selection_options(func: F) -> F:
    func = click.option("--suppressions", "suppressions", default=None, metavar="FILE",
                        help="Suppression file (default: ./.lmeval-setup.yaml when present): per namespace, job and "
                             "rule, each with a reason; suppressed findings are shown, never fail the run.")(func)
    from lmeval_setup.cli.completion import complete_rule_ids

    return click.option("--rule", "rules", multiple=True, metavar="ID", shell_complete=complete_rule_ids,
                        help="Report only these rules (ID like LME002 or slug); repeatable, comma-separated.")(func)


def selector_option(func: F) -> F:
    return click.option("-l", "--selector", "selector", default=None, metavar="SELECTOR",
                        help="Only LMEvalJobs whose labels match this selector (kubectl syntax: a=b,c!=d,e in (f),!g)."
                        )(func)


def check_selector(selector: str | None) -> None:
    """A selector kubectl would refuse is a usage error before any cluster work."""
    if not selector:
        return
    import re

    from lmeval_setup.errors import UsageError
    from lmeval_setup.lint.kustomize import selector_matches

    try:  # each term on its own: matching stops at the first term that fails, parsing must not
        for term in re.split(r",(?![^()]*\))", selector):
            selector_matches(term, {})
    except ValueError as exc:
        raise UsageError(f"-l/--selector: {exc}") from None


def select_and_suppress(findings: Sequence[Finding], rules: Sequence[str], suppressions: str | None,
                        inline: Callable[[Finding], Suppression | None] | None = None) -> list[Finding]:
    from lmeval_setup.report import suppress

    wanted = suppress.rule_ids(rules, "--rule")
    file_rules = suppress.load_file(suppressions)
    return suppress.apply(suppress.only_rules(findings, wanted), file_rules, inline)


def load_checks(rules: Sequence[str], suppressions: str | None) -> None:
    """Validate --rule and the suppression file before any work (a bad one is exit 2, one line)."""
    from lmeval_setup.report import suppress

    suppress.rule_ids(rules, "--rule")
    suppress.load_file(suppressions)
