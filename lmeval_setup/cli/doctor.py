"""`lmeval-setup doctor`: explain why LM-Eval (or an LMEvalJob) fails, from a live cluster or a must-gather.

Read-only: get / list on objects and get on pods/log, nothing else (a test proves it with an RBAC identity
that cannot write and the apiserver audit log).

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage error (bad flags, unreadable
--from-dir); 3 cluster unreachable or unauthorised; 4 OpenShift AI is not installed (the report, with
LME110, is still printed); 70 internal error.
"""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager, nullcontext

import click

from lmeval_setup.cli.common import findings_options, kube_options
from lmeval_setup.cli.scope import namespace_options
from lmeval_setup.cli.selection import selection_options, selector_option
from lmeval_setup.cli.verbosity import note
from lmeval_setup.errors import ExitCode, UsageError

# The collection's first round: detect()'s widest (four cluster reads) and the scope's LMEvalJobs list.
FIRST_ROUND_CONNECTIONS = 5


def _split_names(_: click.Context, __: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for v in value for n in v.split(",") if n.strip()))


@click.command(name="doctor", context_settings={"help_option_names": ["-h", "--help"]})
@namespace_options("Check LMEvalJobs")
@click.option("--job", "jobs", multiple=True, metavar="NAME", callback=_split_names,
              help="Check only these LMEvalJobs; repeatable, comma-separated allowed (an unknown name: exit 2).")
@click.option("--from-dir", "from_dir", default=None, type=click.Path(file_okay=False),
              help="Read an oc adm inspect / must-gather directory (or --collect output) instead of a cluster.")
@click.option("--collect", "collect_dir", default=None, type=click.Path(file_okay=False),
              help="Also write what was read, secrets removed, in the oc adm inspect layout.")
@click.option("--fix", "fix", is_flag=True,
              help="Plan the fixes (a diff per job, bootstrap for the cluster); nothing is written without --yes.")
@click.option("--yes", "yes", is_flag=True, help="With --fix: apply the plan (create <job>-fix jobs, run bootstrap).")
@click.option("--replace", "replace", is_flag=True,
              help="With --fix --yes: delete each failed job and recreate it corrected under its own name.")
@click.option("--wait", "wait", is_flag=True,
              help="With --fix --yes: follow the corrected jobs to completion and say per finding if the fix worked.")
@click.option("--wait-timeout", "wait_timeout", type=click.FloatRange(min=1), default=900.0, show_default=True,
              metavar="SECONDS", help="With --wait: how long to wait for the corrected jobs (exit 5 after).")
@findings_options("text", "json", "yaml", "junit", "sarif")
@selector_option
@selection_options
@kube_options
def doctor(
    namespace: str | None, all_namespaces: bool, jobs: tuple[str, ...], from_dir: str | None, collect_dir: str | None,
    fix: bool, yes: bool, replace: bool, wait: bool, wait_timeout: float,
    output: str, fail_on: str, ignore: tuple[str, ...], color: bool | None, kubeconfig: str | None,
    context: str | None, selector: str | None = None, rules: tuple[str, ...] = (), suppressions: str | None = None,
) -> None:
    """Diagnose LM-Eval on a cluster: TrustyAI setup, permissions, operator, and every LMEvalJob.

    Each finding has a stable rule ID (LME0xx job, LME1xx cluster), the evidence (spec field, status,
    pod, event or log line) and the fix. Exit codes: 0 clean; 1 findings at or above --fail-on;
    2 usage; 3 cluster unreachable/unauthorised; 4 OpenShift AI not installed; 70 internal error.
    """
    from lmeval_setup.cli.selection import check_selector, load_checks, select_and_suppress
    from lmeval_setup.report import exit_code_for, filter_ignored, render, resolve_rule_ids
    from lmeval_setup.report.suppress import active

    ignored = resolve_rule_ids(ignore)  # validate before any cluster work
    check_selector(selector)
    load_checks(rules, suppressions)
    if namespace and all_namespaces:
        raise UsageError("-n/--namespace and -A/--all-namespaces exclude each other")
    if from_dir and collect_dir:
        raise UsageError("--from-dir reads a directory; --collect writes one from a live cluster: pick one")
    _check_fix_flags(fix, yes, replace, wait, from_dir, output)
    # --collect: a symlink, a file or no permission there is refused before the cluster is read, and what
    # was created for it is removed again when the read fails.
    with _collect_target(collect_dir):
        snapshot = _snapshot(from_dir, namespace, all_namespaces, jobs, kubeconfig, context, output)
    from lmeval_setup.doctor.evaluate import evaluate  # imported while the cluster answered (_snapshot)

    if selector:  # narrows live and offline snapshots alike (rules/evaluate read scope["selector"])
        snapshot.scope = {**snapshot.scope, "selector": selector}
    if collect_dir:
        from lmeval_setup.doctor.writer import write_dir

        write_dir(snapshot, collect_dir)
        note(f"note: wrote the collected data (secrets removed) to {collect_dir}")
    result = evaluate(snapshot)
    if not result.openshift_ai_missing:
        _require_named_jobs(jobs, result.checked, snapshot.scope)
    findings = select_and_suppress(filter_ignored(result.findings, ignored), rules, suppressions)
    if fix:
        from lmeval_setup.fix.cli import doctor_fix

        result.findings = active(findings)  # a suppressed finding is accepted: nothing to fix
        sys.exit(doctor_fix(snapshot, result, output=output, fail_on=fail_on, apply=yes, replace=replace,
                            wait=wait, wait_timeout=wait_timeout, kubeconfig=kubeconfig, context=context))
    text = render(findings, output, tool="doctor", color=color, fail_on=fail_on,  # type: ignore[arg-type]
                  checked=result.checked, errors=result.errors)
    click.echo(text, nl=False)
    # The cluster and the DSC are always checked live: only jobs tell whether the scope held anything.
    # Without OpenShift AI there can be no jobs; the error below says why instead.
    no_jobs = not any(t.kind == "LMEvalJob" for t in result.checked)
    if output == "text" and no_jobs and not result.openshift_ai_missing:
        note("note: nothing to check (no LMEvalJobs in scope)")
    if result.openshift_ai_missing and "LME110" not in ignored:
        # Exit 4 says one line on stderr, as every command's exit 3/4 does; the report has the detail.
        click.echo("error: OpenShift AI / Open Data Hub is not installed on this cluster (LME110)", err=True)
        sys.exit(int(ExitCode.PREREQUISITE))
    # LME111 (cluster layer not readable) describes the identity, not the cluster: the jobs decide.
    sys.exit(exit_code_for([f for f in findings if f.rule_id != "LME111"], fail_on))


def _check_fix_flags(fix: bool, yes: bool, replace: bool, wait: bool, from_dir: str | None, output: str) -> None:
    if (yes or replace or wait) and not fix:
        raise UsageError("--yes, --replace and --wait go with --fix")
    if (replace or wait) and not yes:
        raise UsageError("--replace and --wait change the cluster: they need --yes")
    if fix and from_dir:
        raise UsageError("--fix needs a live cluster, not --from-dir")
    if fix and output not in ("text", "json", "yaml"):
        raise UsageError("--fix prints its plan as text, json or yaml")


def _collect_target(collect_dir: str | None) -> AbstractContextManager[object]:
    if not collect_dir:
        return nullcontext()
    from lmeval_setup.doctor.writer import collect_target

    return collect_target(collect_dir)


def _snapshot(from_dir: str | None, namespace: str | None, all_namespaces: bool, jobs: tuple[str, ...],
              kubeconfig: str | None, context: str | None, output: str = "text"):  # type: ignore[no-untyped-def]
    if from_dir:
        from lmeval_setup.doctor.offline import read_dir

        snapshot = read_dir(from_dir)
        # Flags narrow an offline snapshot the same way they narrow a live collection.
        if namespace or all_namespaces or jobs:
            snapshot.scope = {"namespace": namespace, "all_namespaces": all_namespaces, "jobs": list(jobs)}
        return snapshot
    from lmeval_setup.cli.common import connect
    from lmeval_setup.cli.scope import resolve_namespace

    resolved = resolve_namespace(namespace, all_namespaces, kubeconfig, context)
    kube = connect(kubeconfig, context)
    # The TCP and TLS handshakes of the first round's connections (two round trips to a remote cluster)
    # run while the collection's modules are imported (~30 ms of a cold run), instead of after.
    kube.prewarm(FIRST_ROUND_CONNECTIONS)
    from lmeval_setup.doctor.collect import Scope, collect

    scope = Scope(namespace=resolved, all_namespaces=all_namespaces, jobs=jobs)
    # The collection waits on round trips (a handshake, then about five rounds): the rules and the report
    # are imported meanwhile on a helper thread, instead of after it (evaluate's import below waits for it
    # if it is not done). collect's own modules are all loaded by now, so it imports nothing meanwhile;
    # Ctrl-C still lands in this thread's reads: the helper is started with SIGINT/SIGTERM blocked, else the
    # kernel could hand it the signal while this thread waits out a hung handshake (kube.readpool).
    from lmeval_setup.kube.readpool import start_without_main_thread_signals

    start_without_main_thread_signals(threading.Thread(target=_import_rules_and_report, args=(output,),
                                                       name="import-rules", daemon=True))
    from lmeval_setup.kube.readpool import is_interrupt

    try:
        snapshot = collect(kube, scope)
    except BaseException as exc:
        kube.close(wait=not is_interrupt(exc))  # an interrupted run waits for nothing (kube.readpool)
        raise
    kube.close()
    return snapshot


def _import_rules_and_report(output: str) -> None:
    """What evaluate() and render() import, loaded ahead (~50 ms of a cold run's CPU). An import that fails
    here fails again where the module is used, and is reported there."""
    import importlib

    for module in ("lmeval_setup.doctor.evaluate", "lmeval_setup.rules.spec",
                   "lmeval_setup.report.text" if output == "text" else "lmeval_setup.report.jsonfmt"):
        try:
            importlib.import_module(module)
        except Exception:  # see the docstring
            return


def _require_named_jobs(jobs: tuple[str, ...], checked: list, scope: dict) -> None:  # type: ignore[type-arg]
    """--job NAME that matches nothing is a usage error (exit 2), as `kubectl get lmevaljob NAME` is."""
    found = {t.name for t in checked if t.kind == "LMEvalJob"}
    missing = [name for name in jobs if name not in found]
    if not missing:
        return
    where = "any namespace" if scope.get("all_namespaces") or not scope.get("namespace") else scope["namespace"]
    noun = "job" if len(missing) == 1 else "jobs"
    raise UsageError(f"{noun} {', '.join(missing)} not found in {where}")
