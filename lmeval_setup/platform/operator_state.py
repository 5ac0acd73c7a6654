"""The TrustyAI operator's state, answered once: has it loaded its start-up configuration, is it ready?

Every caller asks these two questions here and nowhere else: bootstrap's plan (what a run will do,
for preflight and dry runs), its restart step (lmeval_restart) and facts module (lmeval_facts), the
waits, and the doctor (LME106, LME107, through detect's OperatorFacts).

**Loaded?** The operator reads the `lmes-*` keys of its ConfigMap once, when the manager process
starts; from 2.25 it reads the two permission keys per job instead (`per_job_keys`), so only the
others count. Per operator pod that has started, in this order:

1. the pod carries bootstrap's stamp (LMES_HASH_ANNOTATION, copied from the pod template bootstrap
   stamped when it restarted the operator) equal to the hash of the current start-up keys: loaded;
2. otherwise the manager's start time against the last write to a start-up key. That time comes
   from managedFields: only entries that own a start-up `data` key count, so a label, an annotation
   or a per-job key written by another manager is not a change. (An entry's time moves whenever
   that manager changes any field it owns, so a manager that owns a start-up key and later writes
   only metadata still looks like a change: the answer errs towards restarting, never towards
   "loaded".) Started in a later second than the change: loaded; in an earlier second: stale;
   in the same second, or either time unknown: it cannot be told, and the answer says so. One
   exception: a ConfigMap not written since the second it was created was loaded by any manager
   running in that second, because the manager cannot start without it (the platform creates the
   ConfigMap and the Deployment together, and a fast pod starts in the same second).

**What a gather can prove.** `oc adm inspect` and must-gather leave managedFields out of every object,
so from them the last write to a start-up key is not known. Of the above, a gather still proves a
matching stamp (loaded), a pod not started yet (loaded), and a manager that started in an earlier second
than the ConfigMap was created (stale: it cannot have loaded this ConfigMap, whatever was written
since). Anything else it cannot tell, and the answer marks that `unrecorded` (the evidence is not in
what was read) as opposed to a same-second start (the cluster's own times are ambiguous): bootstrap,
which reads the live cluster, restarts on either; the doctor warns only on the latter (LME106).

A pod that has not started a container yet will load the current keys when it does. Terminating pods
still count: until they are gone they may still reconcile jobs.

**Restart?** Only where the release reads the permissions at start-up (the ConfigMap layer,
2.16-2.24), and then whenever the answer is not "loaded", including "cannot tell": an unneeded
restart costs seconds, a missed one leaves every new job with the old permissions. On 2.25+ bootstrap
never restarts (the permissions are read per job); the doctor still reports a stale start-up key there.

**Ready?** `deployment_readiness`: *available* when the wanted replicas (at least one) are available;
*rolled out* when, in addition, the Deployment controller has seen the current template, every replica
runs it, and (given the pods and ReplicaSets) no pod of an older ReplicaSet exists, terminating or not:
a Deployment reports Available while an old manager pod is still running and reconciling jobs with the
configuration it loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lmeval_setup.platform import releases as R
from lmeval_setup.platform.releases import Release

if TYPE_CHECKING:  # detect imports this module; the facts are only read here
    from lmeval_setup.platform.detect import ClusterFacts

JSON = dict[str, Any]

# Pod-template annotation bootstrap stamps when it restarts the operator: startup_config_hash() of the
# ConfigMap the new pods load. Changing it is the restart (a new ReplicaSet), like `rollout restart`.
LMES_HASH_ANNOTATION = "lmeval-setup.opendatahub.io/lmes-config-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
_TERMINAL_PHASES = ("Succeeded", "Failed")


# -- what the operator reads at start ------------------------------------------------------------------
def lmes_config_hash(configmap: JSON | None, exclude: Iterable[str] = ()) -> str:
    """A short hash of the lmes-* keys (minus `exclude`): what an operator pod loads at start."""
    skipped = set(exclude)
    data = (configmap or {}).get("data") or {}
    lmes = {k: v for k, v in sorted(data.items()) if k.startswith("lmes-") and k not in skipped}
    return hashlib.sha256(json.dumps(lmes, sort_keys=True).encode()).hexdigest()[:16]


def per_job_keys(release: Release) -> tuple[str, ...]:
    """ConfigMap keys this release's operator reads for every job: changing them needs no restart."""
    return (R.CM_ALLOW_ONLINE, R.CM_ALLOW_CODE) if release.permissions_read_per_job else ()


def startup_config_hash(configmap: JSON | None, release: Release) -> str:
    """The hash of what the operator reads only at start-up: compare with LMES_HASH_ANNOTATION."""
    return lmes_config_hash(configmap, exclude=per_job_keys(release))


def is_startup_key(key: str, release: Release) -> bool:
    return key.startswith("lmes-") and key not in per_job_keys(release)


# -- times ---------------------------------------------------------------------------------------------
def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def startup_key_writers(configmap: JSON, release: Release) -> list[JSON]:
    """managedFields entries that own a start-up data key. An entry without fieldsV1 cannot say what it
    owns, so it counts (erring towards a restart)."""
    writers = []
    for entry in (configmap.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict):
            owned = {k[2:] for k in (fields.get("f:data") or {}) if k.startswith("f:")}
            if not any(is_startup_key(k, release) for k in owned):
                continue
        writers.append(entry)
    return writers


def startup_keys_changed_at(configmap: JSON, release: Release) -> datetime | None:
    """The newest managedFields time of an entry that owns a start-up data key (None: not known)."""
    times = [parse_time(e.get("time")) for e in startup_key_writers(configmap, release)]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def unchanged_since_creation(configmap: JSON, release: Release) -> bool:
    """Only its creator owns start-up keys, last written in the second the ConfigMap was created."""
    writers = startup_key_writers(configmap, release)
    created = parse_time((configmap.get("metadata") or {}).get("creationTimestamp"))
    written = parse_time(writers[0].get("time")) if len(writers) == 1 else None
    return created is not None and written is not None and _second(created) == _second(written)


def manager_started_at(pod: JSON) -> datetime | None:
    """When the process that read the ConfigMap started: the manager container's running startedAt
    (a container restart re-reads it), else the earliest running container's, else the pod's startTime
    (earlier than any process start, so it can only make the answer err towards a restart)."""
    status = pod.get("status") or {}
    running = {c.get("name"): parse_time(((c.get("state") or {}).get("running") or {}).get("startedAt"))
               for c in status.get("containerStatuses") or []}
    if running.get(R.OPERATOR_CONTAINER) is not None:
        return running[R.OPERATOR_CONTAINER]
    known = [t for t in running.values() if t is not None]
    return min(known) if known else parse_time(status.get("startTime"))


def has_started(pod: JSON) -> bool:
    """A container is or was running: the manager has read its configuration at least once."""
    status = pod.get("status") or {}
    for c in status.get("containerStatuses") or []:
        if (c.get("state") or {}).get("running") or (c.get("state") or {}).get("terminated") or c.get("lastState"):
            return True
    return status.get("phase") == "Running"


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


# -- the answer ----------------------------------------------------------------------------------------
class Verdict(StrEnum):
    LOADED = "loaded"
    STALE = "stale"
    UNKNOWN = "unknown"  # the timestamps cannot tell (same second, or a time is missing)


@dataclass(frozen=True)
class PodState:
    pod: str
    verdict: Verdict
    why: str
    _: KW_ONLY
    unrecorded: bool = False  # UNKNOWN only because a time is not in what was read (a gather's objects)


@dataclass(frozen=True)
class StartupConfigState:
    """Whether the running operator loaded the current start-up configuration, and why."""

    verdict: Verdict
    why: str
    _: KW_ONLY
    current_hash: str
    template_hash: str | None
    pods: tuple[PodState, ...] = ()
    restart_policy: bool = False  # the release reads the permissions at start-up (ConfigMap layer)

    @property
    def loaded(self) -> bool:
        return self.verdict is Verdict.LOADED

    @property
    def unrecorded(self) -> bool:
        """"Cannot tell" only for want of a time the objects read do not record (a gather has no
        managedFields), never because the cluster's own times are ambiguous."""
        unknown = [p for p in self.pods if p.verdict is Verdict.UNKNOWN]
        return self.verdict is Verdict.UNKNOWN and bool(unknown) and all(p.unrecorded for p in unknown)

    @property
    def restart_needed(self) -> bool:
        """What bootstrap does about it: restart unless loaded, and only on the ConfigMap layer."""
        return self.restart_policy and not self.loaded

    def as_dict(self) -> JSON:
        return {"verdict": self.verdict.value, "why": self.why, "current_hash": self.current_hash,
                "template_hash": self.template_hash, "restart_needed": self.restart_needed,
                "unrecorded": self.unrecorded,
                "pods": [{"pod": p.pod, "verdict": p.verdict.value, "why": p.why} for p in self.pods]}


def startup_config_state(release: Release, deployment: JSON | None, configmap: JSON | None,
                         pods: Sequence[JSON], *, changed_by_this_run: bool = False) -> StartupConfigState:
    """THE answer to "has the running operator loaded the current start-up configuration".

    `changed_by_this_run`: the caller has just changed (in a dry run: would have changed) start-up keys,
    after every running pod started; a dry run's ConfigMap does not show it.
    """
    current = startup_config_hash(configmap, release)
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    template_hash = ((template.get("metadata") or {}).get("annotations") or {}).get(LMES_HASH_ANNOTATION)
    policy = release.needs_restart_for_permissions

    def answer(verdict: Verdict, why: str, per_pod: tuple[PodState, ...] = ()) -> StartupConfigState:
        return StartupConfigState(verdict, why, current_hash=current, template_hash=template_hash, pods=per_pod,
                                  restart_policy=policy)

    if deployment is None:
        return answer(Verdict.LOADED, "no operator Deployment: nothing runs that could hold an old configuration")
    if configmap is None:
        return answer(Verdict.LOADED, "no operator ConfigMap: there is no configuration to load")
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in _TERMINAL_PHASES]
    if not live:
        return answer(Verdict.LOADED, "no operator pod is running: the next one loads the current configuration")
    if changed_by_this_run and release.needs_restart_for_permissions:
        return answer(Verdict.STALE, "this run changes start-up keys of the ConfigMap the running pods loaded")
    changed_at = startup_keys_changed_at(configmap, release)
    # Not written since the second it was created: a manager cannot start without its ConfigMap, so a pod
    # running in that second loaded it as created (the platform creates it and the Deployment together).
    as_created = unchanged_since_creation(configmap, release)
    created_at = parse_time((configmap.get("metadata") or {}).get("creationTimestamp"))
    per_pod = tuple(_pod_state(p, current, changed_at, as_created, created_at=created_at,
                               change_unknown_why=_change_unknown_why(configmap)) for p in live)
    for verdict in (Verdict.STALE, Verdict.UNKNOWN):
        worst = [p for p in per_pod if p.verdict is verdict]
        if worst:
            return answer(verdict, "; ".join(f"{p.pod}: {p.why}" for p in worst), per_pod)
    return answer(Verdict.LOADED, "every operator pod loaded the current start-up configuration", per_pod)


def startup_config_of(facts: ClusterFacts) -> StartupConfigState:
    """startup_config_state() over what detect() read (live or from a Snapshot)."""
    return startup_config_state(facts.release, facts.operator.deployment, facts.operator_config,
                                facts.operator.pod_objects)


def _change_unknown_why(configmap: JSON) -> str:
    if not (configmap.get("metadata") or {}).get("managedFields"):
        return ("when the start-up keys last changed is not recorded (the ConfigMap has no managedFields: "
                "oc adm inspect and must-gather leave them out)")
    return "when the start-up keys last changed is not recorded (no managedFields entry owns one)"


def _pod_state(pod: JSON, current_hash: str, changed_at: datetime | None, as_created: bool = False, *,
               created_at: datetime | None = None,
               change_unknown_why: str = "when the start-up keys last changed is not recorded") -> PodState:
    meta = pod.get("metadata") or {}
    name = str(meta.get("name", "?"))
    stamped = (meta.get("annotations") or {}).get(LMES_HASH_ANNOTATION)
    if stamped == current_hash:
        return PodState(name, Verdict.LOADED, f"started from a template stamped with the current hash {current_hash}")
    if not has_started(pod):
        return PodState(name, Verdict.LOADED, "not started yet: it will load the current configuration")
    started = manager_started_at(pod)
    stamp_note = f"stamped {stamped}, current {current_hash}; " if stamped else ""
    if started is not None and changed_at is None and created_at is not None \
            and _second(started) < _second(created_at):
        # Provable without managedFields: the ConfigMap did not exist when this manager read its configuration.
        return PodState(name, Verdict.STALE, f"{stamp_note}started {started.isoformat()}, before its ConfigMap "
                        f"was created ({created_at.isoformat()})")
    if started is None or changed_at is None:
        missing = "its start time is not recorded" if started is None else change_unknown_why
        return PodState(name, Verdict.UNKNOWN, f"{stamp_note}cannot tell: {missing}", unrecorded=True)
    when = f"started {started.isoformat()}, start-up keys changed {changed_at.isoformat()}"
    # The API's times have one-second resolution: the same second proves nothing either way.
    if _second(started) > _second(changed_at):
        return PodState(name, Verdict.LOADED, f"{stamp_note}{when}")
    if _second(started) == _second(changed_at) and as_created:
        return PodState(name, Verdict.LOADED, f"{stamp_note}{when}, in the second the ConfigMap was created and "
                        "not written since: the manager cannot have started without it")
    if _second(started) == _second(changed_at):
        return PodState(name, Verdict.UNKNOWN, f"{stamp_note}cannot tell, same second: {when}")
    return PodState(name, Verdict.STALE, f"{stamp_note}{when}")


# -- is the Deployment ready -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Readiness:
    available: bool  # the wanted replicas (at least one) are available
    rolled_out: bool  # available on the current template, and no pod of an older ReplicaSet left
    detail: str


def deployment_readiness(deployment: JSON | None, *, pods: Sequence[JSON] | None = None,
                         replicasets: Sequence[JSON] | None = None) -> Readiness:
    """THE answer to "is this Deployment ready". Without pods and ReplicaSets, `rolled_out` rests on the
    status counters alone; with them, old pods (terminating or not) are looked for too."""
    if not deployment:
        return Readiness(False, False, "the Deployment does not exist")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    available_n = int(status.get("availableReplicas") or 0)  # available pods are ready ones (minReadySeconds)
    available = wanted > 0 and available_n >= wanted
    counts = f"{int(status.get('updatedReplicas') or 0)}/{wanted} updated, {available_n} available, " \
             f"{int(status.get('replicas') or 0)} total"
    if not available:
        why = "it is scaled to 0" if wanted == 0 else f"not available yet: {counts}"
        return Readiness(False, False, why)
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return Readiness(True, False, "the deployment controller has not seen the current template yet")
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    if updated < wanted or total > updated:
        return Readiness(True, False, f"rolling out: {counts}")
    if pods is not None and replicasets is not None:
        old = old_pods(deployment, pods, replicasets)
        if old:
            return Readiness(True, False, f"pods of an older ReplicaSet still present: {', '.join(old)}")
    revision = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return Readiness(True, True, f"{available_n}/{wanted} available on revision {revision}")


def old_pods(deployment: JSON, pods: Sequence[JSON], replicasets: Sequence[JSON]) -> list[str]:
    """Pods that still exist (not finished) and are terminating or not owned by the current ReplicaSet."""
    revision = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    current = {rs["metadata"]["name"] for rs in replicasets
               if ((rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)) == revision}
    old: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if (pod.get("status") or {}).get("phase") in _TERMINAL_PHASES:
            continue
        owners = {o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == "ReplicaSet"}
        if meta.get("deletionTimestamp") or not owners & current:
            old.append(str(meta.get("name", "?")))
    return sorted(old)


def selector_string(deployment: JSON | None) -> str:
    """The Deployment's own matchLabels as a label selector (the pod labels changed in 3.5: never assume)."""
    labels = (((deployment or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
