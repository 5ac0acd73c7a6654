"""Snapshot -> findings: run every detector (spec, status, pod, event, log, cluster) and merge by root cause.

One root cause is one finding, whatever saw it: findings with the same rule on the same object are merged
into one with all the evidence (an offline failure seen in the spec, the pod's HF_HUB_OFFLINE=1 and the
log is ONE LME001). When the job asked for online access (or code execution) and the cluster ignored it,
the cause is the cluster's refusal, so LME001 folds into LME102 (LME010 into LME103).
Detectors run in order of specificity (log, status, pod, spec) so the first message is the most precise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime

from lmeval_setup.doctor import kueue as KQ
from lmeval_setup.doctor import operator_log as OL
from lmeval_setup.doctor.snapshot import JSON, Snapshot
from lmeval_setup.errors import OpenShiftAIMissing, PrerequisiteError
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import CRD_GROUP, CRD_PLURAL, ClusterFacts, detect
from lmeval_setup.rules import cluster as C
from lmeval_setup.rules import lifecycle as LC
from lmeval_setup.rules import logs as L
from lmeval_setup.rules import pods as P
from lmeval_setup.rules import status as S
from lmeval_setup.rules.catalog import SEVERITY_ORDER
from lmeval_setup.rules.finding import Evidence, Finding, Target
from lmeval_setup.rules.managed_pvc import claim_findings, managed_pvc_name
from lmeval_setup.rules.schema import validate_metadata_and_status

LMEVAL_PLURAL = "lmevaljobs"
# (folded, into): when both fire on one job, the second is the root cause.
FOLDS = (("LME001", "LME102"), ("LME010", "LME103"),
         # An unusable outputs PVC is why the pod is unschedulable or the job never starts.
         ("LME021", "LME040"), ("LME024", "LME040"))
# While TrustyAI is not Managed (LME101) no operator runs a job (LME024) and no permission layer is in
# effect (LME001, LME102, LME103 follow from that): these job-level symptoms become LME101's evidence,
# so the fix shown is the cluster's (bootstrap), not an edit of every job.
SYMPTOMS_OF_TRUSTYAI_OFF = frozenset({"LME001", "LME024", "LME102", "LME103"})


@dataclass
class DoctorResult:
    findings: list[Finding]
    checked: list[Target] = field(default_factory=list)
    _: KW_ONLY
    errors: list[str] = field(default_factory=list)
    facts: ClusterFacts | None = None
    openshift_ai_missing: bool = False


def evaluate(snapshot: Snapshot, *, now: datetime | None = None) -> DoctorResult:
    now = now or snapshot.collected_at or S.utcnow()
    result = DoctorResult(findings=[], errors=list(snapshot.notes))
    raw: list[Finding] = []
    facts = _cluster_layer(snapshot, result, raw)
    spec_cache = SpecFindingsCache()  # one cluster layer (facts) per run: the cache lives as long as it
    for job in _jobs(snapshot):
        result.checked.append(S.job_target(job))
        raw.extend(job_findings(snapshot, job, facts, now, result.errors, spec_cache=spec_cache))
    result.facts = facts
    result.findings = fold_into_cluster_cause(merge(OL.with_operator_evidence(raw, snapshot)))
    return result


def fold_into_cluster_cause(findings: list[Finding]) -> list[Finding]:
    """A cluster-level cause wins over the job-level symptoms it produces (LME101 over LME001/LME024...)."""
    root = next((f for f in findings if f.rule_id == "LME101"), None)
    if root is None:
        return findings
    symptoms = [f for f in findings if f.rule_id in SYMPTOMS_OF_TRUSTYAI_OFF and f.target.kind == "LMEvalJob"]
    if not symptoms:
        return findings
    evidence = list(root.evidence)
    for symptom in symptoms:
        for ev in symptom.evidence:
            where = f"{symptom.target.label()} {ev.path}" if ev.path else symptom.target.label()
            evidence.append(Evidence(ev.source, f"{symptom.rule_id}: {ev.text}", path=where, line=ev.line))
    folded = Finding(root.rule_id, root.target, message=root.message, evidence=tuple(evidence),
                     severity_override=root.severity_override)
    return [folded if f is root else f for f in findings if f not in symptoms]


def _cluster_layer(snapshot: Snapshot, result: DoctorResult, raw: list[Finding]) -> ClusterFacts | None:
    unreadable = snapshot.cluster_unreadable()
    if unreadable is not None:
        # Forbidden is not absent: what a namespace-scoped identity cannot see says nothing about the
        # cluster (no LME110), and the exit code is the job findings' alone (LME111 is info).
        raw.append(C.cluster_unreadable(unreadable))
        result.errors.remove(unreadable)
        return None
    try:
        facts = detect(snapshot)
    except OpenShiftAIMissing as exc:
        result.openshift_ai_missing = True
        raw.append(C.openshift_ai_missing(exc.one_line()))
        result.checked.append(Target(kind="Cluster", name="cluster"))
        return None
    except PrerequisiteError as exc:
        result.errors.append(f"cluster layer: {exc.one_line()}")
        return None
    result.checked.append(C.dsc_target(facts))
    crds_known = snapshot.known(CRD_GROUP, CRD_PLURAL, R.KSERVE_ISVC_CRD)
    raw.extend(C.cluster_findings(facts, C.ClusterContext(crds_known=crds_known)))
    return facts


def _jobs(snapshot: Snapshot) -> list[JSON]:
    jobs = snapshot.list(R.LMEVAL_GROUP, R.LMEVAL_VERSION, LMEVAL_PLURAL)
    wanted = wanted_jobs(snapshot.scope)
    namespace = None if snapshot.scope.get("all_namespaces") else snapshot.scope.get("namespace")
    selector = snapshot.scope.get("selector")
    return [
        j for j in jobs
        if (not wanted or j["metadata"].get("name") in wanted)
        and (not namespace or j["metadata"].get("namespace") == namespace)
        and (not selector or _labels_match(selector, j))
    ]


def _labels_match(selector: str, job: JSON) -> bool:
    """-l/--selector: kubectl's label selector on the job's labels (validated by the CLI before any read)."""
    from lmeval_setup.lint.kustomize import selector_matches

    return selector_matches(selector, (job.get("metadata") or {}).get("labels") or {})


def wanted_jobs(scope: JSON) -> frozenset[str]:
    """The job names a scope narrows to (`jobs`, or the older single `job`); empty means every job."""
    names = scope.get("jobs") or ([scope["job"]] if scope.get("job") else [])
    return frozenset(str(n) for n in names)


def job_findings(snapshot: Snapshot, job: JSON, facts: ClusterFacts | None, now: datetime,
                 errors: list[str], *, spec_cache: SpecFindingsCache | None = None) -> list[Finding]:
    target = S.job_target(job)
    ns = target.namespace or ""
    pod_name = str(S.job_status(job).get("podName") or target.name)
    pod = snapshot.get("", "v1", "pods", pod_name, ns)
    out: list[Finding] = []
    out.extend(_log_findings(snapshot, ns, pod_name, target))
    pod_found: list[Finding] = []
    if pod is not None:
        events = snapshot.events_for(ns, "Pod", pod_name) + snapshot.events_for(ns, "LMEvalJob", target.name)
        pod_found = P.pod_findings(pod, events, target)
    pvcs = ({p["metadata"]["name"] for p in snapshot.list("", "v1", "persistentvolumeclaims", ns)}
            if snapshot.knows("", "persistentvolumeclaims", ns) else None)
    out.extend(S.status_findings(job, pod=pod, pvcs=pvcs, now=now, explained=bool(pod_found)))
    out.extend(pod_found)
    out.extend(LC.lifecycle_findings(job, pod, target, now, workload=KQ.workload_for(snapshot, job)))
    out.extend(_managed_pvc_findings(snapshot, job, target, now))
    out.extend(_permission_findings(job, pod, target))
    out.extend(spec_cache.findings(job, facts, target) if spec_cache is not None
               else _spec_findings(job, facts, target))
    out = _unsafe_code_before_225(out, facts)
    out = _no_chat_template_on_line(out, facts, job)
    if S.is_failed(job) and not any(f.at_least("error") for f in out):
        reason = "its main log was not collected" if snapshot.log(ns, pod_name, "main") is None else (
            "no known error in its main log")
        errors.append(f"{target.label()}: failed with {S.job_status(job).get('message')!r}; {reason}")
    return out


# What marks an LME010 as an unsafe-code task (not a remote-code dataset): lm-eval's refusal, the code_eval
# metric's, or the spec rule, which fires only for unsafe-code task names.
_UNSAFE_CODE_SIGNS = ("marked as unsafe", '"code_eval" metric')


def _unsafe_code_before_225(findings: list[Finding], facts: ClusterFacts | None) -> list[Finding]:
    """Before 2.25 the operator never passes --confirm_run_unsafe_code nor HF_ALLOW_CODE_EVAL
    (Release.unsafe_code_flags): no permission makes an unsafe-code task run, so say so."""
    if facts is None or facts.release.unsafe_code_flags:
        return findings
    note = (f"; on {facts.release.key} the TrustyAI operator never passes lm-eval --confirm_run_unsafe_code nor "
            "HF_ALLOW_CODE_EVAL, so no setting makes it run: drop the task or upgrade to RHOAI 2.25+ / ODH 2.35+")
    return [replace(f, message=f.message + note) if f.rule_id == "LME010" and _is_unsafe_code(f) else f
            for f in findings]


def _no_chat_template_on_line(findings: list[Finding], facts: ClusterFacts | None, job: JSON) -> list[Finding]:
    """LME026 from the log says "set chatTemplate.enabled", a field RHOAI 2.16's LMEvalJob does not have
    (Release.lmevaljob_chat_template): there it says what works instead, as the spec rule does."""
    if facts is None or facts.release.lmevaljob_chat_template:
        return findings
    from lmeval_setup.rules.spec import no_chat_template_message

    model = str((job.get("spec") or {}).get("model") or "")
    return [replace(f, message=no_chat_template_message(model, facts.release))
            if f.rule_id == "LME026" and "chatTemplate" in f.message else f for f in findings]


def _is_unsafe_code(finding: Finding) -> bool:
    return any(sign in ev.text for ev in finding.evidence for sign in _UNSAFE_CODE_SIGNS) or any(
        ev.source == "spec" and (ev.path or "").startswith("spec.taskList.taskNames") for ev in finding.evidence)


def _log_findings(snapshot: Snapshot, ns: str, pod: str, target: Target) -> list[Finding]:
    out = []
    for container in ("main", "driver"):
        text = snapshot.log(ns, pod, container)
        if text is None:
            continue
        for hit in L.analyse(text):
            evidence = [Evidence("log", hit.text, path=f"pod/{pod}/{container}", line=hit.line)]
            evidence += [Evidence("log", t, path=f"pod/{pod}/{container}", line=n) for n, t in hit.extra]
            out.append(Finding(hit.rule_id, target, message=hit.message, evidence=tuple(evidence),
                               severity_override=hit.severity))
    return out


def _managed_pvc_findings(snapshot: Snapshot, job: JSON, target: Target, now: datetime) -> list[Finding]:
    """LME040: the outputs PVC the operator created for the job, with the Warning events on it."""
    name = managed_pvc_name(job)
    ns = target.namespace or ""
    if name is None or not snapshot.knows("", "persistentvolumeclaims", ns):
        return []
    pvc = snapshot.get("", "v1", "persistentvolumeclaims", name, ns)
    return claim_findings(job, pvc, snapshot.events_for(ns, "PersistentVolumeClaim", name), target, now)


def _permission_findings(job: JSON, pod: JSON | None, target: Target) -> list[Finding]:
    """The operator silently ignores allowOnline / allowCodeExecution it does not permit; the pod env shows it."""
    if pod is None:
        return []
    spec = job.get("spec") or {}
    out = []
    name = pod["metadata"]["name"]
    if spec.get("allowOnline") is True and P.runs_offline(pod):
        out.append(Finding("LME102", target, message="the job sets allowOnline: true but its pod runs offline",
                           evidence=(Evidence("pod", f"{P.OFFLINE_ENV}=1",
                                              path=f"pod/{name}.spec.containers[main].env"),)))
    if spec.get("allowCodeExecution") is True and P.code_execution_blocked(pod):
        out.append(Finding("LME103", target,
                           message="the job sets allowCodeExecution: true but its pod may not run code",
                           evidence=(Evidence("pod", f"{P.CODE_ENV}=0",
                                              path=f"pod/{name}.spec.containers[main].env"),)))
    return out


def _spec_findings(job: JSON, facts: ClusterFacts | None, target: Target) -> list[Finding]:
    from lmeval_setup.rules.spec import spec_findings

    permissions = facts.effective_permissions if facts is not None else None
    return spec_findings(job, permissions, target=target, release=facts.release if facts is not None else None)


class SpecFindingsCache:
    """The spec rules, evaluated once per distinct spec in one run.

    Clusters hold thousands of jobs made from a few templates: the spec rules (schema, controller,
    endpoint, offline, placeholders: 85% of evaluate's time at 4,000 jobs) give the same findings for
    the same document, so a job whose metadata and status are schema-clean is checked as the document
    without them (which is what the rules read besides the spec: rules.spec reads `doc` only to
    validate it) and the answer is shared, re-aimed at each job's target. A job whose metadata or
    status has a schema issue is checked whole, uncached (rare: the apiserver validates both)."""

    def __init__(self) -> None:
        self._by_spec: dict[str, list[Finding]] = {}
        self.evaluated = 0  # spec rule runs (tests and the bench read it)

    def findings(self, job: JSON, facts: ClusterFacts | None, target: Target) -> list[Finding]:
        if not _metadata_and_status_clean(job):
            self.evaluated += 1
            return _spec_findings(job, facts, target)
        without = {k: v for k, v in job.items() if k not in ("metadata", "status")}
        # repr, not json.dumps (1.6x the CPU): key order kept (the rules walk the spec in order), and equal
        # only for equal documents (json.dumps also made {1: x} equal to {"1": x}, a date equal to its repr)
        key = repr(without)
        cached = self._by_spec.get(key)
        if cached is None:
            self.evaluated += 1
            cached = self._by_spec[key] = _spec_findings(without, facts, target)
        return [f if f.target == target else replace(f, target=target) for f in cached]


def _metadata_and_status_clean(job: JSON) -> bool:
    """No schema issue in the job's metadata or status (the parts the spec cache leaves out)."""
    return next(validate_metadata_and_status(job), None) is None


# -- merging ----------------------------------------------------------------------------------------------
def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, object): evidence united, first message kept, highest severity wins."""
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        grouped.setdefault((f.rule_id, f.target.label()), []).append(f)
    merged = {key: _merge_group(group) for key, group in grouped.items()}
    for folded, into in FOLDS:
        for (rule_id, label), finding in list(merged.items()):
            root = merged.get((into, label))
            if rule_id == folded and root is not None:
                merged[(into, label)] = _merge_group([root, finding], rule_id=into)
                del merged[(rule_id, label)]
    return list(merged.values())


def _merge_group(group: list[Finding], rule_id: str | None = None) -> Finding:
    first = group[0]
    evidence: list[Evidence] = []
    for f in group:
        for ev in f.evidence:
            if ev not in evidence:
                evidence.append(ev)
    severities = [f.severity for f in group]
    worst = max(severities, key=lambda s: SEVERITY_ORDER[s])
    rule_id = rule_id or first.rule_id
    override = None if worst == Finding(rule_id, first.target, message="").rule.severity else worst
    return Finding(rule_id, first.target, message=first.message, evidence=tuple(evidence), severity_override=override)
