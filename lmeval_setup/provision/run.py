"""One provision run, start to finish: lint -> apply -> wait -> results and gates (or doctor) -> teardown.

The CLI only parses flags into `RunOptions` and prints; everything that decides an exit code is
here, so tests can drive a run in-process and read what it printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.errors import ExitCode, LmevalError, OpenShiftAIMissing, PrerequisiteError, WaitTimeout
from lmeval_setup.kube.client import Kube
from lmeval_setup.platform.detect import Permissions
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION
from lmeval_setup.provision import apply as A
from lmeval_setup.provision.diagnose import diagnose_job, lint_job
from lmeval_setup.provision.gates import Gate, error_junit, evaluate_gates, gates_junit
from lmeval_setup.provision.objects import ProvisionSpec, build_objects, instance_value
from lmeval_setup.provision.wait import ProgressDisplay, wait_for_job
from lmeval_setup.results.model import job_result
from lmeval_setup.results.table import render as render_results
from lmeval_setup.rules.finding import Finding

JSON = dict[str, Any]
Out = Callable[[str], None]


@dataclass
class RunOptions:
    spec: ProvisionSpec
    wait: bool = False
    timeout: float = 3600.0
    gates: list[Gate] = field(default_factory=list)
    junit: Path | None = None
    teardown_after: bool = False
    ignore: frozenset[str] = frozenset()
    # None: ask the cluster (ClusterFacts.effective_permissions); set by --[no-]allow-online etc.
    allow_online: bool | None = None
    allow_code_execution: bool | None = None
    color: bool | None = None


@dataclass
class Printer:
    """stdout for results and findings, stderr for progress: CI can capture stdout alone."""

    out: Out
    err: Out


def resolve_permissions(kube: Kube, options: RunOptions, err: Out) -> Permissions | None:
    """What the cluster permits, unless both flags say it; None when it cannot be known."""
    from lmeval_setup.platform.detect import KubeSource, detect

    try:
        facts = detect(KubeSource(kube))
    except OpenShiftAIMissing:
        if options.allow_online is None or options.allow_code_execution is None:
            raise
        err("note: no OpenShift AI here; using --allow-online/--allow-code-execution as given")
        return None
    return facts.effective_permissions


def choose_flags(options: RunOptions, permissions: Permissions | None) -> None:
    """allowOnline / allowCodeExecution: the flag when given, else what the cluster permits."""
    spec = options.spec
    permitted_online = permissions.online if permissions else False
    permitted_code = permissions.code_execution if permissions else False
    spec.allow_online = permitted_online if options.allow_online is None else options.allow_online
    spec.allow_code_execution = (
        permitted_code if options.allow_code_execution is None else options.allow_code_execution
    )


def require_lmevaljob_api(kube: Kube) -> None:
    if kube.get_or_none(f"/apis/{LMEVAL_GROUP}/{LMEVAL_VERSION}") is None:
        raise PrerequisiteError(
            "this cluster does not serve LMEvalJobs (trustyai.opendatahub.io/v1alpha1)",
            hint="enable TrustyAI first: lmeval-setup bootstrap",
        )


def lint_gate(objects: list[JSON], permissions: Permissions | None, options: RunOptions,
              printer: Printer) -> bool:
    """Lint the job; print findings; True when it may be applied (no error left after --ignore)."""
    from lmeval_setup.report import render

    job = objects[-1]
    findings = [f for f in lint_job(job, permissions) if f.rule_id not in options.ignore]
    blocking = [f for f in findings if f.severity == "error"]
    if findings:
        text = render(findings, "text", tool="provision", color=options.color)
        (printer.out if blocking else printer.err)(text.rstrip("\n"))
    if blocking:
        printer.err(f"provision: the job has {len(blocking)} lint error(s); nothing was applied")
    return not blocking


def run_provision(kube: Kube, options: RunOptions, printer: Printer) -> int:
    require_lmevaljob_api(kube)
    permissions = resolve_permissions(kube, options, printer.err)
    choose_flags(options, permissions)
    objects = build_objects(options.spec)
    if not lint_gate(objects, permissions, options, printer):
        _write_junit(options, error_junit("the job failed lint; it was not applied",
                                          job=options.spec.job_name, gates=options.gates))
        return int(ExitCode.FINDINGS)
    A.apply_objects(kube, objects, log=lambda line: printer.err(f"provision: {line}"))
    if not options.wait:
        spec = options.spec
        printer.err(f"provision: follow it with: lmeval-setup results -n {spec.namespace} {spec.job_name}")
        return int(ExitCode.OK)
    try:
        return _wait_and_judge(kube, options, printer)
    finally:
        if options.teardown_after:
            run_teardown(kube, options.spec, printer)


def run_teardown(kube: Kube, spec: ProvisionSpec, printer: Printer) -> int:
    A.teardown(kube, spec.namespace, instance_value(spec), log=lambda line: printer.err(f"teardown: {line}"))
    return int(ExitCode.OK)


def _wait_and_judge(kube: Kube, options: RunOptions, printer: Printer) -> int:
    spec = options.spec
    display = ProgressDisplay(prefix=f"{spec.namespace}/{spec.job_name}: ")
    try:
        outcome = wait_for_job(kube, spec.namespace, spec.job_name, timeout=options.timeout,
                               on_update=display.update)
    except WaitTimeout as exc:
        _write_junit(options, error_junit(exc.one_line(), job=spec.job_name, gates=options.gates))
        raise
    finally:
        display.close()
    if not outcome.succeeded:
        return _report_failure(kube, options, printer, outcome.reason, outcome.message)
    result = job_result(outcome.job)
    printer.out(render_results([result], "table").rstrip("\n"))
    if not options.gates:
        return int(ExitCode.OK)
    verdicts = evaluate_gates(options.gates, result)
    for verdict in verdicts:
        printer.out(verdict.message)
    _write_junit(options, gates_junit(verdicts, job=spec.job_name))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        printer.err(f"provision: {len(failed)} of {len(verdicts)} gate(s) failed")
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)


def _report_failure(kube: Kube, options: RunOptions, printer: Printer, reason: str, message: str) -> int:
    from lmeval_setup.report import render

    spec = options.spec
    from lmeval_setup.report.redact import redact_text

    headline = f"LMEvalJob {spec.namespace}/{spec.job_name} {reason.lower() or 'ended'}: {redact_text(message)}"
    printer.out(headline)
    findings = _doctor_findings(kube, spec, printer)
    if findings:
        printer.out(render(findings, "text", tool="doctor", color=options.color).rstrip("\n"))
    else:
        printer.out(f"the doctor found no known cause; see: lmeval-setup doctor -n {spec.namespace} "
                    f"--job {spec.job_name}")
    rule_ids = ", ".join(sorted({f.rule_id for f in findings if f.severity == "error"}))
    detail = f"{headline}" + (f" (doctor: {rule_ids})" if rule_ids else "")
    _write_junit(options, error_junit(detail, job=spec.job_name, gates=options.gates))
    return int(ExitCode.FINDINGS)


def _doctor_findings(kube: Kube, spec: ProvisionSpec, printer: Printer) -> list[Finding]:
    try:
        return diagnose_job(kube, spec.namespace, spec.job_name)
    except LmevalError as exc:
        printer.err(f"provision: the doctor could not run: {exc.one_line()}")
        return []


def _write_junit(options: RunOptions, text: str) -> None:
    if options.junit is not None:
        options.junit.parent.mkdir(parents=True, exist_ok=True)
        options.junit.write_text(text)
