"""`lmeval-setup bootstrap` and `lmeval-setup revert`: thin wrappers over bootstrap.runner."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from lmeval_setup.bootstrap.dryrun import dry_run_lines
from lmeval_setup.bootstrap.plan import CODE_EXECUTION_NOTE
from lmeval_setup.bootstrap.runner import ClusterResult, RunOptions, RunResult, run
from lmeval_setup.cli.common import kube_options, output_option, request_timeout
from lmeval_setup.platform.releases import line_label

SCHEMA = "lmeval-setup/bootstrap"
SCHEMA_VERSION = 1


def _target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--dry-run", is_flag=True,
                        help="Server-side dry run: nothing is written, nothing restarted.")(func)
    func = click.option("--limit", "limit", default=None, metavar="PATTERN",
                        help="Only the inventory hosts matching PATTERN (Ansible --limit).")(func)
    func = click.option("--inventory", "-i", "inventory", default=None,
                        type=click.Path(exists=True, dir_okay=False),
                        help="Ansible inventory: one host per cluster with lmeval_kubeconfig / lmeval_context.")(func)
    func = click.option("--timeout", "timeout", default=1800, show_default=True, type=int,
                        help="Seconds for the whole run.")(func)
    return kube_options(func)


@click.command(name="bootstrap")
@_target_options
@click.option("--diff", is_flag=True, help="Show before/after of every object changed.")
@click.option("--allow-online/--deny-online", "allow_online", default=None,
              help="Permit LMEvalJobs online access (default: allowed, the seed's proven configuration).")
@click.option("--allow-code-execution/--deny-code-execution", "allow_code_execution", default=None,
              help="Permit LMEvalJobs remote code execution (default: allowed).")
@click.option("--wait-timeout", "wait_timeout", default=None, type=click.IntRange(min=1), metavar="SECONDS",
              help="Seconds to wait for TrustyAI to become ready and for an operator rollout "
                   "(default: 600 and 300).")
@output_option("text", "json", "yaml")
def bootstrap(kubeconfig: str | None, context: str | None, inventory: str | None, limit: str | None,
              dry_run: bool, timeout: int, diff: bool, allow_online: bool | None,
              allow_code_execution: bool | None, wait_timeout: int | None, output: str) -> None:
    """Enable TrustyAI LM-Eval: detect the release, check RBAC, enable TrustyAI, set the permissions the
    way that release reads them, restart the operator only if needed, and remember how to revert."""
    opts = RunOptions("bootstrap", inventory=inventory, kubeconfig=kubeconfig, context=context, limit=limit,
                      dry_run=dry_run, diff=diff, allow_online=allow_online,
                      allow_code_execution=allow_code_execution, timeout=timeout, wait_timeout=wait_timeout)
    _execute(opts, output)


@click.command(name="revert")
@_target_options
@output_option("text", "json", "yaml")
def revert(kubeconfig: str | None, context: str | None, inventory: str | None, limit: str | None,
           dry_run: bool, timeout: int, output: str) -> None:
    """Put back every field bootstrap changed (recorded on the cluster); a second revert does nothing."""
    _execute(RunOptions("revert", inventory=inventory, kubeconfig=kubeconfig, context=context, limit=limit,
                        dry_run=dry_run, timeout=timeout), output)


def _execute(opts: RunOptions, output: str) -> None:
    from lmeval_setup.cli.verbosity import verbosity

    opts.request_timeout = request_timeout()
    # -v/-vv/-vvv: the requests happen inside Ansible, so its verbosity is what -v can raise.
    opts.verbosity = verbosity()
    progress = _progress_printer(output, sys.stderr.isatty())
    from lmeval_setup.bootstrap.noop import answer  # a no-op bootstrap needs no Ansible start-up

    result = answer(opts, progress) or run(opts, progress, _ansible_printer(opts.verbosity))
    if output in ("json", "yaml"):
        click.echo(render_structured(result, output), nl=False)
    elif text := as_text(result):  # empty when the run failed with nothing to report but its error line
        click.echo(text)
    # The error line goes to stderr in every format, as for the other commands (stdout stays pure JSON).
    for line in error_lines(result):
        click.echo(line, err=True)
    if result.exit_code:
        sys.exit(int(result.exit_code))


def error_lines(result: RunResult) -> list[str]:
    """One line per failed cluster; a run cut short (signal, --timeout) is one line for the whole run."""
    if result.cut:
        return [f"error: {result.cut_message}"]
    if not result.clusters and result.exit_code:  # ansible-playbook stopped before any cluster ran
        why = result.ansible_errors[0] if result.ansible_errors else f"status {result.status}, rc {result.rc}"
        return [f"error: ansible-playbook failed before any cluster ran: {why}"]
    return [f"error: {name}: {cluster.failure.msg}" for name, cluster in result.clusters.items()
            if cluster.failure is not None]


def _progress_printer(output: str, tty: bool) -> Callable[[str], None] | None:
    """Live step lines on a terminal (text output); off a terminal (CI logs) plain lines stamped with
    the UTC time, in every output format: stdout keeps the report, so the log is never silent. -q: none."""
    from lmeval_setup.cli.verbosity import quiet

    if quiet() or (tty and output != "text"):
        return None

    def show(line: str) -> None:
        click.echo(line if tty else f"{progress_stamp()} {line}", err=True)

    return show


def _ansible_printer(count: int) -> Callable[[str], None] | None:
    """Under -v, ansible-playbook's own output (already redacted by the runner) on stderr; stdout keeps the
    report in every format."""
    if not count:
        return None

    def show(text: str) -> None:
        click.echo(text.rstrip("\n"), err=True)

    return show


def progress_stamp(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def render_structured(result: RunResult, output: str) -> str:
    """-o json (keys sorted, as before) or -o yaml: one document, docs/schemas/bootstrap.schema.json."""
    data = as_json(result)
    if output == "yaml":
        from lmeval_setup.report.structured import dump

        return dump(data, "yaml")
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def as_json(result: RunResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "playbook": result.playbook,
        "dry_run": result.dry_run,
        "status": result.status,
        "exit_code": int(result.exit_code),
        "clusters": {name: _cluster_json(c) for name, c in sorted(result.clusters.items())},
    }


def _cluster_json(cluster: ClusterResult) -> dict[str, Any]:
    failure = cluster.failure
    facts = cluster.facts or {}
    out = {
        "ok": failure is None,
        "exit_code": int(cluster.exit_code),
        "stats": {s: cluster.count(s) for s in ("ok", "changed", "failed", "skipped", "unreachable")},
        "steps": [{"task": s.task, "status": s.status, **({"msg": s.msg} if s.msg else {}),
                   **({"reason": s.reason} if s.reason else {}),
                   **({"diff": s.diff} if s.diff else {})} for s in cluster.steps],
        # One type per key: a list, empty when the cluster succeeded (it was an object, or null).
        "errors": [{"msg": failure.msg, "reason": failure.reason or failure.status}] if failure else [],
        "operator_restarted": cluster.restarted,
        "warnings": (cluster.plan or {}).get("warnings", []),
        "notes": (cluster.plan or {}).get("notes", []),
        "restored": cluster.restored,
    }
    # What detection learnt. A key is absent, never null, when the run failed before it was known.
    known = {
        "release_name": facts.get("release_name"),
        "release_line": line_label(str(facts.get("release_line") or "")),  # the release table's row: 2.17-2.24
        "release_version": facts.get("release_version"),
        "permission_layer": facts.get("permission_layer"),
        "trustyai_state": facts.get("trustyai_state"),
        "effective_online": facts.get("effective_online"),
        "effective_code_execution": facts.get("effective_code_execution"),
    }
    return {**out, **{key: value for key, value in known.items() if value is not None}}


def _nothing_but_its_error(cluster: ClusterResult) -> bool:
    """A cluster that failed having changed nothing (a bad kubeconfig, an unreachable cluster, a refused
    preflight, a run stopped before its first write): its one error line on stderr says all there is."""
    return cluster.failure is not None and cluster.count("changed") == 0


def as_text(result: RunResult) -> str:
    """The summary for stdout; empty when every cluster failed with nothing to report (and when no cluster
    ran because ansible-playbook failed): then the error lines on stderr are the whole output, as for
    every other command. A dry run's per-step counts are given for clusters whose run reached its end
    or changed something, never "would change 0" for steps that never ran."""
    if result.exit_code and all(_nothing_but_its_error(c) for c in result.clusters.values()):
        return ""
    lines: list[str] = []
    verb = "would change" if result.dry_run else "changed"
    for name, cluster in sorted(result.clusters.items()):
        facts = cluster.facts or {}
        title = f"{name}: {facts.get('release_name', '?')} {facts.get('release_version', '')}".rstrip()
        lines.append(title)
        for step in cluster.steps:
            if step.status != "skipped":
                lines.append(f"  {step.status:<8} {step.task}")
                lines.extend(f"      {line}" for line in diff_lines(step.diff))
        lines.append(f"  => ok={cluster.count('ok')} {verb}={cluster.count('changed')} "
                     f"failed={cluster.count('failed') + cluster.count('unreachable')}")
        if result.dry_run and result.playbook == "bootstrap" and not _nothing_but_its_error(cluster):
            lines.extend(dry_run_lines(cluster.steps, cluster.plan))
        if result.playbook == "bootstrap" and cluster.failure is None and facts:
            state = "  now (dry run, nothing written): " if result.dry_run else "  "
            lines.append(f"{state}TrustyAI {facts.get('trustyai_state')}; "
                         f"permissions via {facts.get('permission_layer')}: "
                         f"online={_yes(facts.get('effective_online'))} "
                         f"code_execution={_yes(facts.get('effective_code_execution'))}; "
                         f"operator restarted: {_yes(cluster.restarted)}")
            for warning in (cluster.plan or {}).get("warnings", []):
                lines.append(f"  warning: {warning}")
            if CODE_EXECUTION_NOTE in (cluster.plan or {}).get("notes", []):
                lines.append(f"  note: {CODE_EXECUTION_NOTE}")
    if not result.clusters:
        lines.append(f"no cluster ran (ansible-runner status {result.status}, rc {result.rc})")
    return "\n".join(lines)


def diff_lines(diff: Any) -> list[str]:
    """A unified diff of the YAML before/after that Ansible's --diff reports for a changed object."""
    import difflib

    import yaml

    lines: list[str] = []
    for part in diff if isinstance(diff, list) else [diff] if diff else []:
        if not isinstance(part, dict) or ("before" not in part and "after" not in part):
            continue
        before, after = (_as_yaml(part.get(k), yaml) for k in ("before", "after"))
        lines += [line.rstrip("\n") for line in difflib.unified_diff(
            before, after, part.get("before_header", "before"), part.get("after_header", "after"), n=2)]
    return lines


# Bookkeeping the server changes on every write: it would drown the one field that matters.
_NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def _as_yaml(value: Any, yaml: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines(keepends=True)
    obj = dict(value or {})
    obj.pop("status", None)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in _NOISE}
    return yaml.safe_dump(obj, sort_keys=True).splitlines(keepends=True)


def _yes(value: object) -> str:
    return "yes" if value is True else "no" if value is False else "?"

