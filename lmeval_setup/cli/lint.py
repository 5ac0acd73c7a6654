"""`lmeval-setup lint PATH...`: check LMEvalJob manifests before they are applied.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 an input could not be
read or parsed (or a usage error) -- the other inputs are still linted and reported; 3 --cluster
and the cluster is unreachable or unauthorised; 70 internal error.
"""

from __future__ import annotations

import sys

import click

from lmeval_setup.cli.common import findings_options, kube_options
from lmeval_setup.cli.selection import selection_options, selector_option
from lmeval_setup.cli.verbosity import note as say
from lmeval_setup.cli.verbosity import shown
from lmeval_setup.errors import ExitCode, UsageError


@click.command(name="lint", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True)
@findings_options("text", "json", "yaml", "sarif", "junit")
@click.option("--cluster", is_flag=True, help="Also check against a cluster: permissions, namespace, PVCs, Secrets.")
@click.option("-n", "--namespace", "namespace", default=None,
              help="With --cluster: namespace for manifests that do not set one (default: default).")
@click.option("--fix", "fix", is_flag=True,
              help="Rewrite the manifests in place with the automatic fixes (comments and layout kept), then report "
                   "what is left.")
@click.option("--diff", "diff", is_flag=True, help="With --fix: print the changes as a unified diff; write nothing.")
@selector_option
@selection_options
@kube_options
def lint(
    paths: tuple[str, ...], output: str, fail_on: str, ignore: tuple[str, ...], cluster: bool,
    namespace: str | None, fix: bool, diff: bool, color: bool | None, kubeconfig: str | None, context: str | None,
    selector: str | None = None, rules: tuple[str, ...] = (), suppressions: str | None = None,
) -> None:
    """Check LMEvalJob manifests (files, directories, kustomize directories, '-' for stdin).

    Findings point at file:line:column of the offending field, with the rule ID and the fix.
    Exit codes: 0 clean; 1 findings at or above --fail-on; 2 unreadable or malformed input;
    3 cluster unreachable (--cluster).
    """
    from lmeval_setup.cli.selection import check_selector, load_checks, select_and_suppress
    from lmeval_setup.lint import lint_paths
    from lmeval_setup.report import exit_code_for, filter_ignored, render, resolve_rule_ids
    from lmeval_setup.report.suppress import InlineIndex, active

    ignored = resolve_rule_ids(ignore)  # validate before doing any work
    check_selector(selector)
    load_checks(rules, suppressions)
    if diff and not fix:
        raise UsageError("--diff goes with --fix")
    if fix and "-" in paths:
        raise UsageError("--fix rewrites files: it cannot take stdin ('-')")
    if fix:
        _require_round_trip_yaml()
    result = lint_paths(list(paths), selector=selector)
    if fix and not result.errors:
        def accept(found: list) -> list:  # type: ignore[type-arg]
            """What this run reports as active is what gets fixed (never an ignored or suppressed rule)."""
            return active(select_and_suppress(filter_ignored(found, ignored), rules, suppressions,
                                              InlineIndex(result.sources, _document_roots(result.jobs))))

        if _fix(result, show_diff=diff, accept=accept):
            sys.exit(int(ExitCode.FINDINGS))  # --diff: there are changes to make
        result = lint_paths(list(paths), selector=selector)  # report what the fixes left
    if cluster:
        _cluster_checks(result, kubeconfig, context, namespace or "default")
    findings = select_and_suppress(filter_ignored(result.findings, ignored), rules, suppressions,
                                   InlineIndex(result.sources, _document_roots(result.jobs)))
    use_color = color if color is not None else None
    text = render(findings, output, tool="lint", color=use_color, fail_on=fail_on,  # type: ignore[arg-type]
                  checked=result.checked, errors=result.errors if output != "text" else ())
    for note in result.notes:
        say(f"note: {note}")
    if output == "text":
        for error in result.errors:
            click.echo(f"error: {shown(error)}", err=True)
    click.echo(text, nl=False, color=True)  # render() already decided colour; echo must not strip it
    if result.errors:
        sys.exit(int(ExitCode.USAGE))
    if not result.checked and output == "text":
        say("note: no LMEvalJob documents found" + (f" matching -l {selector}" if selector else ""))
    sys.exit(exit_code_for(findings, fail_on))


def _document_roots(jobs: list) -> dict[str, list[int]]:  # type: ignore[type-arg]
    """File -> the line of each linted document's first key (where its header comment block ends)."""
    roots: dict[str, list[int]] = {}
    for doc in jobs:
        top = [pos for path, pos in doc.positions.items() if path and "." not in path and "[" not in path]
        if top:
            file, line, _ = min(top, key=lambda pos: pos[1])
            roots.setdefault(file, []).append(line)
    return roots


def _require_round_trip_yaml() -> None:
    """lint --fix edits through ruamel.yaml, an extra: the base install (the pre-commit hook) stays light."""
    from lmeval_setup.errors import PrerequisiteError

    try:
        import ruamel.yaml  # noqa: F401
    except ImportError:
        raise PrerequisiteError("lint --fix needs ruamel.yaml (pip install 'lmeval-setup[fix]')") from None


def _fix(result, *, show_diff: bool, accept=None) -> bool:  # type: ignore[no-untyped-def]
    """Apply (or with show_diff print) the automatic fixes; True when --diff found changes to make."""
    from lmeval_setup.fix.lintfix import fix_documents, write

    fixes = fix_documents(result.jobs, accept=accept)
    for text in fixes.notes:
        say(f"note: {text}")
    if show_diff:
        for file_fix in fixes.files:
            click.echo(file_fix.diff(), nl=False)
        return bool(fixes.files)
    write(fixes, lambda file_fix: say(f"fixed {file_fix.file}: {', '.join(file_fix.rules)}"))
    return False


def _cluster_checks(result, kubeconfig: str | None, context: str | None, namespace: str) -> None:  # type: ignore[no-untyped-def]
    from lmeval_setup.cli.common import connect
    from lmeval_setup.lint import lint_document
    from lmeval_setup.lint.cluster import read_facts, reference_findings

    kube = connect(kubeconfig, context)
    facts, note = read_facts(kube)
    if note:
        result.notes.append(note)
    if facts is not None:
        # Re-run the spec rules with the permission layer and the cluster line's CRD (RHOAI 2.16's differs);
        # keep offline results for the rest.
        result.findings = [f for job in result.jobs
                           for f in lint_document(job, facts.effective_permissions, facts.release)]
    result.findings.extend(reference_findings(kube, result.jobs, namespace))
