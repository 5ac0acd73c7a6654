"""`lmeval-setup provision`: an LM-Eval environment for CI, an evaluation, gates on its scores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from lmeval_setup.cli.common import connect, kube_options
from lmeval_setup.cli.completion import complete_rule_ids
from lmeval_setup.cli.scope import namespace_options
from lmeval_setup.errors import ExitCode, LmevalError, UsageError
from lmeval_setup.provision.objects import DEFAULT_JOB_NAME, ProvisionSpec, build_objects

EPILOG = """\b
Examples:
  lmeval-setup provision -n ci-eval --model granite --base-url http://granite-predictor.models:8080/v1/completions \\
      --tokenizer ibm-granite/granite-3.1-8b-instruct --tasks arc_easy,hellaswag --limit 100 \\
      --wait --gate 'arc_easy:acc_norm>=0.70' --junit gates.xml --teardown
  lmeval-setup provision -n ci-eval --teardown           # remove what provision created
  lmeval-setup provision -n ci-eval ... --render         # print the manifests (playbooks/provision-ci.yml)

\b
Exit codes: 0 ok (all gates passed); 1 lint errors, a failed job (the doctor's findings are printed)
or a failed gate; 2 usage; 3 cluster unreachable; 4 no LMEvalJob API / no OpenShift AI; 5 --timeout expired.
"""


def _split_tasks(_: click.Context, __: click.Parameter, value: tuple[str, ...]) -> list[str]:
    return [t.strip() for v in value for t in v.split(",") if t.strip()]


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@namespace_options("The job (the namespace is created and labelled if absent)",
                   all_help="With --teardown alone: remove the job's environment from every namespace.")
@click.option("--job-name", default=DEFAULT_JOB_NAME, show_default=True, help="Name of the LMEvalJob.")
@click.option("--model-type", default=None, help="lm-eval model type [default: local-completions].")
@click.option("--model", "served_model", default=None, help="Served model name (vLLM --served-model-name).")
@click.option("--base-url", default=None, help="Full endpoint URL, e.g. http://HOST:PORT/v1/completions.")
@click.option("--tokenizer", default=None, help="Hugging Face tokenizer id, e.g. ibm-granite/granite-3.1-8b-instruct.")
@click.option("--tasks", multiple=True, callback=_split_tasks, help="Comma-separated lm-eval tasks.")
@click.option("--limit", default=None, help="Samples per task (an integer, or a fraction below 1).")
@click.option("--num-concurrent", type=click.IntRange(min=1), default=None, help="Parallel requests [default: 1].")
@click.option("--max-retries", type=click.IntRange(min=1), default=None, help="Attempts per request [default: 3].")
@click.option("--model-timeout", type=click.IntRange(min=1), default=None,
              help="Seconds per request to the model (model arg timeout) [default: 300]; "
                   "--request-timeout is kubectl's, for API requests.")
@click.option("--api-key-secret", default=None, metavar="NAME",
              help="Secret holding the endpoint's API key (OPENAI_API_KEY via secretKeyRef; never inline).")
@click.option("--api-key-secret-key", default="token", show_default=True, metavar="KEY", help="Key in that Secret.")
@click.option("--allow-online/--no-allow-online", default=None,
              help="Request online access [default: what the cluster permits].")
@click.option("--allow-code-execution/--no-allow-code-execution", default=None,
              help="Request code execution [default: what the cluster permits].")
@click.option("--from-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this LMEvalJob YAML; flags given override its fields.")
@click.option("--wait", is_flag=True, help="Follow the job until it completes; print results, apply gates.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds to wait with --wait (exit 5 when they pass).")
@click.option("--gate", "gates", multiple=True, metavar="TASK:METRIC>=VALUE",
              help="Fail (exit 1) unless the score passes; repeatable. Operators: >= <= > <.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a JUnit report: one test case per gate.")
@click.option("--teardown", "teardown", flag_value=True, default=False,
              help="Alone: remove what provision created. With --wait: remove it after the run.")
@click.option("--keep", "teardown", flag_value=False, help="Keep everything after the run (default).")
@click.option("--render", is_flag=True, help="Print the manifests as YAML and exit (no cluster needed).")
@click.option("--ignore", multiple=True, metavar="RULE", shell_complete=complete_rule_ids,
              help="Lint rule ID or slug not to stop on; repeatable.")
@click.option("--fix", "fix", is_flag=True,
              help="Fix lint errors that have an automatic fix in the job instead of stopping (the diff is printed).")
@click.option("--color/--no-color", default=None, help="Colour findings [default: on a terminal].")
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text", show_default=True,
              help="Output format of the run's report (docs/schemas/provision.schema.json); progress stays on stderr.")
@kube_options
def provision(**kw: Any) -> None:
    """Create an LM-Eval environment for CI and run an evaluation in it.

    Creates, idempotently, the namespace, a ServiceAccount + Role + RoleBinding for the pipeline and
    the LMEvalJob (lint-checked first). Re-running with the same arguments changes nothing; a changed
    spec replaces the job.
    """
    from lmeval_setup.provision.gates import parse_gates

    gates = parse_gates(kw["gates"])
    _resolve_scope(kw)
    if _teardown_only(kw):
        raise SystemExit(_reported(kw, lambda printer: _teardown_only_run(kw, printer)))
    if kw["all_namespaces"]:
        raise UsageError("-A/--all-namespaces goes with --teardown alone: a job is provisioned in one namespace")
    spec = _spec_from(kw)
    if kw["render"]:
        if kw["output"] != "text":
            raise UsageError("--render prints the manifests as YAML; -o is the format of a run's report")
        _render(spec, kw)
        return
    _check_combinations(kw, gates)
    build_objects(spec)  # usage errors (no tasks, no endpoint, a bad --from-file) before touching the cluster
    raise SystemExit(_reported(kw, lambda printer: _provision_run(spec, gates, kw, printer)))


def _resolve_scope(kw: dict[str, Any]) -> None:
    """-n as given, else the kubeconfig context's namespace (kubectl's habit); None with -A."""
    from lmeval_setup.cli.scope import resolve_namespace

    kw["namespace"] = resolve_namespace(kw["namespace"], kw["all_namespaces"], kw["kubeconfig"], kw["context"])


def _reported(kw: dict[str, Any], run: Callable[[Any], int]) -> int:
    """Run with the right printer; with -o json|yaml print the report (also when the run raised)."""
    from lmeval_setup.provision.report import ProvisionReport

    if kw["output"] == "text":
        return run(_printer())
    report = ProvisionReport(namespace=kw["namespace"] or "", job=kw["job_name"])
    printer = _printer(report)
    try:
        code = run(printer)
    except LmevalError as exc:
        report.errors.append(exc.one_line())
        _emit(report, kw["output"], int(exc.exit_code))
        raise
    _emit(report, kw["output"], code)
    return code


def _emit(report: Any, output: str, code: int) -> None:
    from lmeval_setup.report.structured import dump

    click.echo(dump(report.as_dict(code), output), nl=False)


def _teardown_only(kw: dict[str, Any]) -> bool:
    describes_job = kw["from_file"] or kw["base_url"] or kw["tasks"] or kw["served_model"] or kw["tokenizer"]
    return bool(kw["teardown"] and not describes_job)


def _teardown_only_run(kw: dict[str, Any], printer: Any) -> int:
    from lmeval_setup.provision.run import namespaces_of, run_teardown

    kube = connect(kw["kubeconfig"], kw["context"])
    try:
        namespaces = [kw["namespace"]] if kw["namespace"] else namespaces_of(kube, kw["job_name"])
        if not namespaces:
            printer.err(f"teardown: no provisioned job {kw['job_name']} in any namespace")
        for namespace in namespaces:
            run_teardown(kube, ProvisionSpec(namespace=namespace, job_name=kw["job_name"]), printer)
        printer.record(outcome="torn-down")
        return int(ExitCode.OK)
    finally:
        kube.close()


def _check_combinations(kw: dict[str, Any], gates: list[Any]) -> None:
    if (gates or kw["junit"]) and not kw["wait"]:
        raise UsageError("--gate and --junit judge a finished job", hint="add --wait")
    if kw["junit"]:  # refused now, not once the evaluation has run: never written through a link, nor to a FIFO
        from lmeval_setup.safeio import check_writable

        check_writable(kw["junit"], replace=True)
    if kw["teardown"] and not kw["wait"]:
        raise UsageError("--teardown after a run needs --wait (without job flags it only tears down)")


def _spec_from(kw: dict[str, Any]) -> ProvisionSpec:
    base_job = _load_job(kw["from_file"]) if kw["from_file"] else None
    return ProvisionSpec(
        namespace=kw["namespace"], job_name=kw["job_name"], model_type=kw["model_type"],
        base_url=kw["base_url"], tokenizer=kw["tokenizer"], served_model=kw["served_model"],
        tasks=kw["tasks"], limit=kw["limit"], num_concurrent=kw["num_concurrent"],
        max_retries=kw["max_retries"], request_timeout=kw["model_timeout"],
        api_key_secret=kw["api_key_secret"], api_key_secret_key=kw["api_key_secret_key"],
        allow_online=bool(kw["allow_online"]), allow_code_execution=bool(kw["allow_code_execution"]),
        base_job=base_job,
    )


def _load_job(path: Path) -> dict[str, Any]:
    from lmeval_setup import safeio  # bounded: regular files only, size, aliases and depth (exit 2)

    shown = f"--from-file {path}"
    text = safeio.read_text(path, limit=5 * safeio.MiB, display=shown)
    docs = [d for d in safeio.load_yaml_all(text, shown) if isinstance(d, dict)]
    jobs = [d for d in docs if d.get("kind") == "LMEvalJob"]
    if len(jobs) != 1:
        raise UsageError(f"--from-file {path}: expected one LMEvalJob, found {len(jobs)}")
    return jobs[0]


def _render(spec: ProvisionSpec, kw: dict[str, Any]) -> None:
    """The manifests provision would apply, for GitOps review or the Ansible playbook.

    No cluster is read, so allowOnline / allowCodeExecution are exactly what the flags say (false
    when not given). The job is still linted: errors go to stderr and exit 1, as for a real run.
    """
    from lmeval_setup.provision.diagnose import lint_job
    from lmeval_setup.report import render

    objects = build_objects(spec)
    findings = [f for f in lint_job(objects[-1], None) if f.rule_id not in _ignored(kw)]
    if kw["fix"] and any(f.severity == "error" for f in findings):
        from lmeval_setup.fix.provisionfix import fix_rendered_job

        if fix_rendered_job(objects, findings, None, [], lambda line: click.echo(line, err=True)):
            findings = [f for f in lint_job(objects[-1], None) if f.rule_id not in _ignored(kw)]
    if findings:
        click.echo(render(findings, "text", tool="provision", color=kw["color"]).rstrip("\n"), err=True)
    if any(f.severity == "error" for f in findings):
        raise SystemExit(int(ExitCode.FINDINGS))
    click.echo(yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False), nl=False)


def _ignored(kw: dict[str, Any]) -> frozenset[str]:
    from lmeval_setup.report import resolve_rule_ids

    return resolve_rule_ids(kw["ignore"])


def _provision_run(spec: ProvisionSpec, gates: list[Any], kw: dict[str, Any], printer: Any) -> int:
    from lmeval_setup.provision.run import RunOptions, run_provision

    options = RunOptions(
        spec=spec, wait=kw["wait"], timeout=kw["timeout"], gates=gates, junit=kw["junit"],
        teardown_after=bool(kw["teardown"]), ignore=_ignored(kw), allow_online=kw["allow_online"],
        allow_code_execution=kw["allow_code_execution"], color=kw["color"], fix=kw["fix"],
    )
    kube = connect(kw["kubeconfig"], kw["context"])
    try:
        return run_provision(kube, options, printer)
    finally:
        kube.close()


def _printer(report: Any = None) -> Any:
    """Text: stdout as before. -o json|yaml: stdout holds only the report, so nothing else goes there."""
    from lmeval_setup.cli.verbosity import status_printer
    from lmeval_setup.provision.run import Printer

    out = click.echo if report is None else (lambda _text: None)
    return Printer(out=out, err=status_printer(), report=report)
