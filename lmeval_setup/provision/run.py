"""One provision run, start to finish: lint -> apply -> wait -> results and gates (or doctor) -> teardown.

The CLI only parses flags into `RunOptions` and prints; everything that decides an exit code is
here, so tests can drive a run in-process and read what it printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmeval_setup.errors import ExitCode, LmevalError, OpenShiftAIMissing, WaitTimeout
from lmeval_setup.kube.client import Kube
from lmeval_setup.platform.lmevaljob import require_lmevaljob_api
from lmeval_setup.platform.lost_poll import LostPollRecovery, operator_poll_interval, touched_line
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION, Release
from lmeval_setup.provision import apply as A
from lmeval_setup.provision.diagnose import ClusterNotReady, diagnose_job, lint_job, require_cluster_ready
from lmeval_setup.provision.gates import Gate, error_junit, evaluate_gates, gates_junit
from lmeval_setup.provision.objects import ProvisionSpec, build_objects, instance_value
from lmeval_setup.provision.report import ProvisionReport
from lmeval_setup.provision.wait import ProgressDisplay, wait_for_job
from lmeval_setup.results.model import job_result
from lmeval_setup.results.table import render as render_results
from lmeval_setup.rules.finding import Finding
from lmeval_setup.rules.status import succeeded_without_results
from lmeval_setup.safeio import make_dirs, write_atomic

if TYPE_CHECKING:  # detection is imported when a run detects, not with the CLI
    from lmeval_setup.platform.detect import ClusterFacts

JSON = dict[str, Any]
Out = Callable[[str], None]


@dataclass(kw_only=True)  # ten options, several booleans: callers name each
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
    fix: bool = False  # lint errors with an automatic fix are fixed in the job instead of stopping the run


@dataclass
class Printer:
    """stdout for results and findings, stderr for progress: CI can capture stdout alone.

    With -o json|yaml the CLI gives a `report` (and an `out` that prints nothing): the run records
    into it what text output would have shown.
    """

    out: Out
    err: Out
    report: ProvisionReport | None = None

    def record(self, **fields: Any) -> None:
        if self.report is not None:
            for name, value in fields.items():
                setattr(self.report, name, value)


def resolve_cluster(kube: Kube, options: RunOptions, err: Out) -> ClusterFacts | None:
    """What detection learnt (what the cluster permits, its release line, the operator's namespace); None
    without OpenShift AI when both flags say the permissions."""
    from lmeval_setup.kube.source import KubeSource
    from lmeval_setup.platform.detect import detect

    try:
        facts = detect(KubeSource(kube))
    except OpenShiftAIMissing:
        if options.allow_online is None or options.allow_code_execution is None:
            raise
        err("note: no OpenShift AI here; using --allow-online/--allow-code-execution as given")
        return None
    require_cluster_ready(facts)  # TrustyAI not Managed: that, not the job's lint (LME001), is the cause
    return facts


def choose_flags(options: RunOptions, permissions: Permissions | None) -> None:
    """allowOnline / allowCodeExecution: the flag when given, else what the cluster permits."""
    spec = options.spec
    permitted_online = permissions.online if permissions else False
    permitted_code = permissions.code_execution if permissions else False
    spec.allow_online = permitted_online if options.allow_online is None else options.allow_online
    spec.allow_code_execution = (
        permitted_code if options.allow_code_execution is None else options.allow_code_execution
    )


def lint_gate(objects: list[JSON], permissions: Permissions | None, options: RunOptions,
              printer: Printer, *, isvcs: list[JSON] | None = None, release: Release | None = None) -> bool:
    """Lint the job; print findings; True when it may be applied (no error left after --ignore).

    With options.fix, fixable errors are fixed in objects[-1] first (the diff goes to stderr). `release`: the
    cluster's line, whose LMEvalJob CRD the rules and fixes follow (RHOAI 2.16's differs)."""
    from lmeval_setup.report import render

    findings = [f for f in lint_job(objects[-1], permissions, release) if f.rule_id not in options.ignore]
    if options.fix and any(f.severity == "error" for f in findings):
        from lmeval_setup.fix.provisionfix import fix_rendered_job

        if fix_rendered_job(objects, findings, permissions, isvcs or [], printer.err, release):
            findings = [f for f in lint_job(objects[-1], permissions, release) if f.rule_id not in options.ignore]
    blocking = [f for f in findings if f.severity == "error"]
    if findings:
        text = render(findings, "text", tool="provision", color=options.color)
        (printer.out if blocking else printer.err)(text.rstrip("\n"))
        printer.record(findings=findings)
    if blocking:
        printer.err(f"provision: the job has {len(blocking)} lint error(s); nothing was applied")
        printer.record(outcome="lint-failed")
    return not blocking


def run_provision(kube: Kube, options: RunOptions, printer: Printer) -> int:
    require_lmevaljob_api(kube)
    try:
        facts = resolve_cluster(kube, options, printer.err)
    except ClusterNotReady as exc:
        _report_cluster_cause(exc, options, printer)
        raise
    permissions = facts.effective_permissions if facts else None
    release = facts.release if facts else None
    choose_flags(options, permissions)
    objects = build_objects(options.spec)
    isvcs = _inference_services(kube, options.spec.namespace) if options.fix else []
    if not lint_gate(objects, permissions, options, printer, isvcs=isvcs, release=release):
        _write_junit(options, error_junit("the job failed lint; it was not applied",
                                          job=options.spec.job_name, gates=options.gates))
        return int(ExitCode.FINDINGS)
    A.apply_objects(kube, objects, log=lambda line: printer.err(f"provision: {line}"))
    printer.record(applied=True, outcome="applied")
    if not options.wait:
        spec = options.spec
        printer.err(f"provision: follow it with: lmeval-setup results -n {spec.namespace} {spec.job_name}")
        return int(ExitCode.OK)
    try:
        return _wait_and_judge(kube, options, printer, facts)
    finally:
        if options.teardown_after:
            run_teardown(kube, options.spec, printer)


def _inference_services(kube: Kube, namespace: str | None) -> list[JSON]:
    """For --fix: the InferenceServices the job may evaluate (base_url and tokenizer values)."""
    from lmeval_setup.fix.remediate import _inference_services as listed

    return listed(kube, namespace) if namespace else []


def run_teardown(kube: Kube, spec: ProvisionSpec, printer: Printer) -> int:
    A.teardown(kube, spec.namespace, instance_value(spec), log=lambda line: printer.err(f"teardown: {line}"))
    printer.record(torn_down=True)
    return int(ExitCode.OK)


def namespaces_of(kube: Kube, job_name: str) -> list[str]:
    """Every namespace holding something provision created for this job (`provision -A --teardown`)."""
    from lmeval_setup.kube.client import ApiError, resource_path
    from lmeval_setup.provision.objects import INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL

    instance = instance_value(ProvisionSpec(namespace="", job_name=job_name))
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{INSTANCE_LABEL}={instance}"
    found: set[str] = set()
    for group, version, plural in (("", "v1", "serviceaccounts"), (LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs")):
        try:
            items = kube.list_items(resource_path(group, version, plural), labelSelector=selector)
            found.update(str(o["metadata"].get("namespace")) for o in items)
        except ApiError as exc:
            if not exc.not_found:  # no LMEvalJob API: nothing of ours there
                raise
    return sorted(found)


def _report_cluster_cause(exc: ClusterNotReady, options: RunOptions, printer: Printer) -> None:
    """The cluster-level finding, on stdout like the doctor's; the CLI then exits 4 with one line."""
    from lmeval_setup.report import render

    printer.out(render(exc.findings, "text", tool="provision", color=options.color).rstrip("\n"))
    printer.record(findings=exc.findings, outcome="blocked")


def _wait_and_judge(kube: Kube, options: RunOptions, printer: Printer, facts: ClusterFacts | None) -> int:
    spec = options.spec
    display = ProgressDisplay(prefix=f"{spec.namespace}/{spec.job_name}: ")
    # Upstream's lost status poll strands a job for 10 h; a CI run would time out (platform/lost_poll.py).
    recovery = LostPollRecovery.for_operator(kube, facts.applications_namespace if facts else None,
                                             operator_poll_interval(facts))
    try:
        outcome = wait_for_job(kube, spec.namespace, spec.job_name, timeout=options.timeout,
                               on_update=display.update, recovery=recovery,
                               on_touch=lambda job: printer.err(f"provision: {touched_line(job)}"))
    except WaitTimeout as exc:
        _write_junit(options, error_junit(exc.one_line(), job=spec.job_name, gates=options.gates))
        printer.record(outcome="timed-out")
        raise
    finally:
        display.close()
    printer.record(job_state={"state": outcome.state, "reason": outcome.reason, "message": outcome.message})
    if not outcome.succeeded:
        return _report_failure(kube, options, printer, outcome.reason, outcome.message)
    if succeeded_without_results(outcome.job):  # the driver's race lost them: LME041
        return _report_failure(kube, options, printer, outcome.reason,
                               f"{outcome.message}, but its status holds no results")
    result = job_result(outcome.job)
    printer.out(render_results([result], "table").rstrip("\n"))
    printer.record(results=[result], outcome="succeeded")
    if not options.gates:
        return int(ExitCode.OK)
    verdicts = evaluate_gates(options.gates, result)
    printer.record(gates=verdicts)
    for verdict in verdicts:
        printer.out(verdict.message)
    _write_junit(options, gates_junit(verdicts, job=spec.job_name))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        printer.err(f"provision: {len(failed)} of {len(verdicts)} gate(s) failed")
        printer.record(outcome="gates-failed")
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)


def _report_failure(kube: Kube, options: RunOptions, printer: Printer, reason: str, message: str) -> int:
    from lmeval_setup.report import render

    spec = options.spec
    from lmeval_setup.redact import redact_text

    headline = f"LMEvalJob {spec.namespace}/{spec.job_name} {reason.lower() or 'ended'}: {redact_text(message)}"
    printer.out(headline)
    findings = _doctor_findings(kube, spec, printer)
    printer.record(findings=findings, outcome="failed")
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
        make_dirs(options.junit.parent)
        write_atomic(options.junit, text, replace=True)  # a report from an earlier run is replaced
