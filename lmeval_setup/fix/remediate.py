"""doctor --fix: from the doctor's findings to corrected jobs on the cluster, and proof that they worked.

An LMEvalJob is not re-run by editing it, so a job-level fix creates a corrected job `<name>-fix` (or,
with replace, deletes the job and creates the corrected one under its name), labelled with the job it
fixes. Cluster-level fixes are a bootstrap run (its preflight, revert record and restart-only-if-needed),
shown as their own plan. Without `apply` nothing is written: the plan and the diffs are all there is.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lmeval_setup.errors import ClusterError, PrerequisiteError, WaitTimeout
from lmeval_setup.fix import values as V
from lmeval_setup.fix.engine import FIX_LABEL, JobPlan, fixed_job_manifest, plan_job
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.lost_poll import POLL_INTERVAL_KEY, LostPollRecovery, operator_poll_interval, touched_line
from lmeval_setup.rules.catalog import SEVERITY_ORDER, Severity
from lmeval_setup.rules.finding import Finding

JSON = dict[str, Any]
LMEVAL_PLURAL = "lmevaljobs"
FIX_SUFFIX = "-fix"
MAX_NAME = 63  # the job's pod is named after it


@dataclass
class JobFix:
    plan: JobPlan
    new_name: str
    _: KW_ONLY
    findings: list[Finding]  # the doctor's findings on the original job
    outcome: str | None = None  # after --wait: "Succeeded", "Failed", ...
    verdict: list[Finding] = field(default_factory=list)  # the doctor's findings on the new job

    @property
    def applicable(self) -> bool:
        """A corrected job is created when the spec changes, or to re-run the job once the cluster-level
        fix it waits for (bootstrap --allow-online for an LME102) is in place."""
        return self.plan.changed or self.plan.needs_bootstrap


@dataclass
class FixRun:
    jobs: list[JobFix] = field(default_factory=list)
    bootstrap_flags: tuple[str, ...] = ()
    _: KW_ONLY
    bootstrap_rules: list[str] = field(default_factory=list)  # why a bootstrap run is part of the plan
    cluster_manual: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The operator's lmes-pod-checking-interval (seconds): how long its pending check of a job may outlive it.
    poll_interval: float = 10.0
    # Where the operator runs (the applications namespace), for its log while waiting; None: not known.
    operator_namespace: str | None = None

    @property
    def needs_bootstrap(self) -> bool:
        return bool(self.bootstrap_rules)

    @property
    def manual_left(self) -> bool:
        return bool(self.cluster_manual) or any(j.plan.manual for j in self.jobs)


def fix_name(name: str) -> str:
    base = name[: MAX_NAME - len(FIX_SUFFIX)].rstrip("-.")
    return base + FIX_SUFFIX


def plan_fixes(kube: Kube, snapshot: Any, result: Any, *, fail_on: Severity = "error",
               replace: bool = False) -> FixRun:
    """A plan per job with a finding at or above `fail_on`, and the cluster-level plan."""
    run = FixRun(poll_interval=operator_poll_interval(result.facts),
                 operator_namespace=getattr(result.facts, "applications_namespace", None))
    permissions = result.facts.effective_permissions if result.facts is not None else None
    flags: list[str] = []
    for finding in result.findings:
        if finding.target.kind == "LMEvalJob" or not finding.at_least(fail_on):
            continue
        if finding.rule.autofix.kind == "bootstrap":
            run.bootstrap_rules.append(finding.rule_id)
            flags += finding.rule.autofix.bootstrap_flags
        elif finding.rule_id != "LME111":
            run.cluster_manual.append(finding)
    isvcs: dict[str, list[JSON]] = {}
    for job in _jobs_in_scope(snapshot):
        meta = job["metadata"]
        name, ns = meta["name"], meta.get("namespace") or ""
        mine = [f for f in result.findings if f.target.kind == "LMEvalJob" and f.target.name == name
                and f.target.namespace == ns]
        if not any(f.at_least(fail_on) for f in mine):
            continue
        if (meta.get("labels") or {}).get(FIX_LABEL) not in (None, name):
            run.notes.append(f"{ns}/{name} is the fix of {meta['labels'][FIX_LABEL]}: not fixed again "
                             "(edit it, or fix the original with --replace)")
            continue
        new_name = name if replace else fix_name(name)
        if not replace and snapshot.get(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, new_name, ns) is not None:
            run.notes.append(f"{ns}/{name}: its fix {new_name} already exists (nothing to do)")
            continue
        if ns not in isvcs:
            isvcs[ns] = _inference_services(kube, ns)
        ctx = V.FixContext(
            inference_services=isvcs[ns],
            sibling_jobs=[j for j in snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, ns)
                          if j["metadata"]["name"] != name],
            online_permitted=permissions.online if permissions is not None else None,
            code_execution_permitted=permissions.code_execution if permissions is not None else None,
            models_endpoint=lambda isvc: served_models(kube, isvc),
            release=result.facts.release if result.facts is not None else None,
        )
        plan = plan_job(job, mine, ctx, permissions=permissions)
        run.jobs.append(JobFix(plan, new_name, findings=mine))
        for step in plan.steps:
            if step.kind == "bootstrap" or step.bootstrap_flags:
                run.bootstrap_rules.append(step.rule_id)
                flags += step.bootstrap_flags
    run.bootstrap_flags = pin_unrequested_permissions(flags, permissions)
    run.bootstrap_rules = list(dict.fromkeys(run.bootstrap_rules))
    return run


# (the flag a fix asks for, its opposite, the Permissions field it sets)
_PERMISSION_FLAGS = (("--allow-online", "--deny-online", "online"),
                     ("--allow-code-execution", "--deny-code-execution", "code_execution"))


def pin_unrequested_permissions(flags: list[str], permissions: Any) -> tuple[str, ...]:
    """The bootstrap flags of the cluster-level fix, with every permission it does not ask for pinned.

    bootstrap permits both online access and code execution unless told otherwise, so a bare
    `bootstrap --allow-online` would also grant code execution on a cluster that denies it: a fix must
    never grant more than its findings ask for. A permission the fix does not ask for is passed as the
    cluster has it now (a permitted one needs no flag: bootstrap keeps it), and denied when unknown."""
    wanted = list(dict.fromkeys(flags))
    if not wanted:
        return ()
    for allow, deny, field_name in _PERMISSION_FLAGS:
        current = getattr(permissions, field_name, None) if permissions is not None else None
        if allow not in wanted and deny not in wanted and current is not True:
            wanted.append(deny)
    return tuple(wanted)


def _jobs_in_scope(snapshot: Any) -> list[JSON]:
    from lmeval_setup.doctor.evaluate import _jobs

    return _jobs(snapshot)


def _inference_services(kube: Kube, namespace: str) -> list[JSON]:
    """The InferenceServices next to the jobs (values for base_url and tokenizer); none when KServe is absent."""
    path = resource_path("serving.kserve.io", "v1beta1", "inferenceservices", namespace)
    try:
        return list(kube.list_items(path))
    except ApiError as exc:
        if exc.status in (403, 404):
            return []
        raise


def served_models(kube: Kube, isvc: JSON) -> JSON | None:
    """The predictor's GET /v1/models through the apiserver's service proxy (a read); None when unreachable.

    The service is the host of the InferenceService's status.url (`<name>-predictor` for RawDeployment)."""
    url = urlsplit(str((isvc.get("status") or {}).get("url") or ""))
    service = (url.hostname or "").split(".")[0]
    if not service:
        return None
    namespace = isvc.get("metadata", {}).get("namespace") or ""
    port = _service_port(kube, namespace, service, url.port, https=url.scheme == "https")
    scheme = "https:" if url.scheme == "https" else ""
    path = f"/api/v1/namespaces/{namespace}/services/{scheme}{service}{port}/proxy/v1/models"
    try:
        answer = kube.request("GET", path)
    except (ApiError, ClusterError, ValueError):  # no such Service, no endpoints, not JSON: no value from here
        return None
    return answer if isinstance(answer, dict) else None


def _service_port(kube: Kube, namespace: str, service: str, url_port: int | None, *, https: bool) -> str:
    """The `:port` part of the service-proxy path for a predictor the InferenceService URL reaches on `url_port`.

    The apiserver's proxy takes a port of the Service (its name or its `port`), never the pod's: asked for
    a number that is no Service port it answers 'no service port N found'. KServe's RawDeployment Service maps
    port 80 ("http") to the vLLM container's 8080, and RHOAI makes it headless, so the URL names 8080, the
    pod's port. Read the Service: the port whose `port`, else whose `targetPort`, is the URL's (its name, or its
    number when unnamed); the URL's own port when the Service cannot be read or has no such port."""
    fallback = f":{url_port}" if url_port else ""
    wanted = url_port or (443 if https else 80)
    try:
        ports = (kube.get(resource_path("", "v1", "services", namespace, service)).get("spec") or {}).get("ports")
    except (ApiError, ClusterError):
        return fallback
    ports = [p for p in ports or [] if isinstance(p, dict)]
    chosen = (next((p for p in ports if p.get("port") == wanted), None)
              or next((p for p in ports if p.get("targetPort") == wanted), None))
    if chosen is None:
        return fallback
    return f":{chosen.get('name') or chosen.get('port')}"


# -- applying -----------------------------------------------------------------------------------------
def preflight(kube: Kube, run: FixRun, *, replace: bool) -> list[str]:
    """What this identity may not do that applying the plan needs (SelfSubjectAccessReview per verb)."""
    missing = []
    namespaces = sorted({j.plan.namespace or "" for j in run.jobs if j.applicable})
    verbs = ("create", "get", "delete") if replace else ("create", "get")
    for ns in namespaces:
        for verb in verbs:
            if not kube.can_i(verb, R.LMEVAL_GROUP, LMEVAL_PLURAL, ns):
                missing.append(f"{verb} lmevaljobs.{R.LMEVAL_GROUP} in {ns}")
    return missing


def bootstrap_argv(run: FixRun, kubeconfig: str | None, context: str | None, *, dry_run: bool) -> list[str]:
    argv = [sys.executable, "-m", "lmeval_setup.cli.main", "bootstrap", *run.bootstrap_flags]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--context", context]
    if dry_run:
        argv += ["--dry-run", "--diff"]
    return argv


def run_bootstrap(run: FixRun, kubeconfig: str | None, context: str | None, *, dry_run: bool) -> int:
    """The cluster-level fix through the CLI's own bootstrap path (a child process: it runs Ansible)."""
    return subprocess.run(bootstrap_argv(run, kubeconfig, context, dry_run=dry_run), check=False).returncode


def create_fixed_jobs(kube: Kube, run: FixRun, *, replace: bool, say: Callable[[str], None]) -> None:
    jobs = [job for job in run.jobs if job.applicable]
    if replace and jobs:
        delete_for_reuse(kube, [(job.plan.namespace or "", job.plan.name) for job in jobs], run.poll_interval, say)
    for job in jobs:
        ns = job.plan.namespace or ""
        collection = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, ns)
        body = fixed_job_manifest(job.plan, job.new_name)
        body["apiVersion"] = body.get("apiVersion") or f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}"
        kube.create(collection, body)
        rules = ", ".join(s.rule_id for s in job.plan.steps if s.automatic)
        say(f"created LMEvalJob {ns}/{job.new_name} (fixes {job.plan.name}: {rules})")


def delete_for_reuse(kube: Kube, jobs: list[tuple[str, str]], interval: float, say: Callable[[str], None]) -> None:
    """Delete the LMEvalJobs (namespace, name) so that their names can be used again: wait until they and their
    pods are gone, then one pod-checking `interval` (once for all of them, not per job)."""
    for ns, name in jobs:
        _delete_and_wait(kube, resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, ns, name))
    gone = time.monotonic()
    for ns, name in jobs:
        _wait_for_old_pod(kube, ns, name)
    _outlive_the_old_jobs_check(gone, interval, say)


def _delete_and_wait(kube: Kube, path: str, timeout: float = 60.0) -> None:
    kube.delete(path)
    deadline = time.monotonic() + timeout
    while kube.get_or_none(path) is not None:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {path.rsplit('/', 1)[-1]} to be deleted")
        time.sleep(0.5)


def _wait_for_old_pod(kube: Kube, ns: str, name: str, timeout: float = 60.0) -> None:
    """Wait until the replaced job's pod is gone. The operator names a job's pod after the job and creates
    it once: a replacement created while the old pod still terminates gets AlreadyExists, and the real
    controller (seen on the rhoai-2.22 line) then retries into a lost status poll, leaving the new job
    Scheduled with its pod running, never read again (its next resync is hours away)."""
    path = resource_path("", "v1", "pods", ns, name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            pod = kube.get_or_none(path)
        except ApiError as exc:
            if exc.status == 403:  # not allowed to read pods: nothing to wait on that we could see
                return
            raise
        if pod is None or not _owned_by_a_job(pod, name):
            return
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for pod {name} of the replaced job to be "
                              "deleted (the operator creates the new job's pod under the same name)")
        time.sleep(0.5)


def _outlive_the_old_jobs_check(gone: float, interval: float, say: Callable[[str], None]) -> None:
    """Let the operator's pending check of the deleted job fire before its name is used again. The operator's
    work queue holds one delayed entry per job name, the earliest: a new job of that name scheduled within an
    interval of the old one's last check gets its first check merged into the old, earlier one, which then
    finds the new job before its own interval has passed (syncedMap4Reconciler) and arms nothing. The new
    job is never checked again: Scheduled or Running for good, its pod done (rhoai-2.22's real manager,
    test_doctor_scenarios' --replace step)."""
    left = gone + interval + 1.0 - time.monotonic()
    if left > 0:
        say(f"waiting {left:.0f}s for the operator's pending check of the deleted job "
            f"({POLL_INTERVAL_KEY} {interval:g}s) before re-creating it under the same name")
        time.sleep(left)


def _owned_by_a_job(pod: JSON, name: str) -> bool:
    """The pod is an LMEvalJob's (named after it, owned by it): the old one, as the new job has no pod yet."""
    return any(ref.get("kind") == "LMEvalJob" and ref.get("name") == name
               for ref in pod.get("metadata", {}).get("ownerReferences") or [])


def wait_for_jobs(kube: Kube, run: FixRun, timeout: float, say: Callable[[str], None]) -> None:
    """Follow every created job to Complete; then ask the doctor about each one that did not succeed. A job
    upstream's lost status poll strands is touched once the operator's log proves it (platform/lost_poll.py)."""
    pending = {j.new_name: j for j in run.jobs if j.applicable}
    deadline = time.monotonic() + timeout
    repoll = LostPollRecovery.for_operator(kube, run.operator_namespace, run.poll_interval)
    while pending:
        waiting = []
        for name, job in list(pending.items()):
            path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL, job.plan.namespace or "", name)
            current = kube.get(path)
            status = current.get("status") or {}
            if status.get("state") == "Complete":
                job.outcome = str(status.get("reason") or "Unknown")
                say(f"LMEvalJob {job.plan.namespace}/{name}: Complete, {job.outcome}")
                del pending[name]
            else:
                waiting.append(current)
        if not pending:
            break
        for touched in repoll.nudge(waiting) if repoll is not None else []:
            say(touched_line(touched))
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {', '.join(sorted(pending))} to complete")
        time.sleep(2.0)
    for job in run.jobs:
        if job.applicable:
            job.verdict = _doctor_on(kube, job)


def _doctor_on(kube: Kube, job: JobFix) -> list[Finding]:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    snapshot = collect(kube, Scope(namespace=job.plan.namespace, jobs=(job.new_name,)))
    return [f for f in evaluate(snapshot).findings if f.target.kind == "LMEvalJob" and f.target.name == job.new_name]


def step_verdicts(job: JobFix) -> list[tuple[str, str]]:
    """Per original finding: (rule, "fixed" | "not fixed" | "manual")."""
    still = {f.rule_id for f in job.verdict}
    out = []
    for finding in job.findings:
        step = next((s for s in job.plan.steps if s.rule_id == finding.rule_id), None)
        if step is not None and step.kind == "manual":
            out.append((finding.rule_id, "manual"))
        elif job.outcome == "Succeeded" and finding.rule_id not in still:
            out.append((finding.rule_id, "fixed"))
        else:
            out.append((finding.rule_id, "not fixed" if finding.rule_id in still or job.outcome != "Succeeded"
                        else "fixed"))
    # What a fix uncovered and the next step fixed (LME004 once LME005 made the model local-completions).
    seen = {f.rule_id for f in job.findings}
    for step in job.plan.steps:
        if step.rule_id not in seen and step.kind != "bootstrap":
            fixed = job.outcome == "Succeeded" and step.rule_id not in still and step.kind == "job-patch"
            out.append((step.rule_id, "manual" if step.kind == "manual" else "fixed" if fixed else "not fixed"))
    return out


def run_succeeded(run: FixRun, waited: bool) -> bool:
    if run.manual_left:
        return False
    if not waited:
        return True
    return all(j.outcome == "Succeeded" and not any(SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER["error"]
                                                    for f in j.verdict)
               for j in run.jobs if j.applicable)


def check_writable(missing: list[str]) -> None:
    if missing:
        raise PrerequisiteError("not permitted to apply the fix: missing " + "; ".join(missing))

