"""An idempotent rollout restart of the TrustyAI operator (kubernetes.core has none: kubernetes.core#567).

The restart is a pod-template annotation whose value is the hash of the configuration the operator
reads at start-up (detect.startup_config_hash), not a timestamp: stamping the same hash twice changes
nothing, so a second run, or five concurrent runs, start at most one rollout.

Whether the running pod loaded the current configuration:
- the template carries our annotation: loaded iff it equals the current hash (and the rollout is done);
- never restarted by us: loaded iff every running pod started at or after the ConfigMap's last change
  (the newest managedFields time), unless the caller just changed the ConfigMap itself.
Keys the release re-reads per job (the permissions from 2.25) are left out of the hash, so changing
them never restarts anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lmeval_setup.bootstrap.revert import ObjectRef, RevertStore
from lmeval_setup.bootstrap.wait import operator_unavailable_hint
from lmeval_setup.errors import WaitTimeout
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform.detect import LMES_HASH_ANNOTATION, lmes_config_hash

JSON = dict[str, Any]


@dataclass(frozen=True)
class RestartDecision:
    needed: bool
    why: str
    current_hash: str
    stamped_hash: str | None


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def configmap_changed_at(configmap: JSON) -> datetime | None:
    """The newest managedFields time: when any manager last wrote the ConfigMap."""
    meta = configmap.get("metadata", {})
    times = [parse_time(m.get("time")) for m in meta.get("managedFields") or []]
    known = [t for t in times if t is not None]
    return max(known) if known else parse_time(meta.get("creationTimestamp"))


def pod_started_at(pod: JSON) -> datetime | None:
    """When the manager process started: its container's startedAt, else the pod's startTime."""
    status = pod.get("status", {})
    started = [
        parse_time((c.get("state", {}).get("running") or {}).get("startedAt"))
        for c in status.get("containerStatuses") or []
    ]
    known = [t for t in started if t is not None]
    return max(known) if known else parse_time(status.get("startTime"))


def live_pods(pods: list[JSON]) -> list[JSON]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("phase")
            in ("Running", "Pending")]


def decide(deployment: JSON, configmap: JSON | None, pods: list[JSON], *, ignore_keys: tuple[str, ...] = (),
           config_changed: bool = False) -> RestartDecision:
    current = lmes_config_hash(configmap, exclude=ignore_keys)
    template_meta = deployment.get("spec", {}).get("template", {}).get("metadata", {})
    stamped = (template_meta.get("annotations") or {}).get(LMES_HASH_ANNOTATION)
    if stamped is not None:
        if stamped == current:
            return RestartDecision(False, "the operator pods were started with the current configuration", current,
                                   stamped)
        return RestartDecision(True, "the operator ConfigMap changed since the last restart", current, stamped)
    if configmap is None:
        return RestartDecision(False, "no operator ConfigMap to load", current, None)
    if config_changed:
        return RestartDecision(True, "this run changed start-up settings in the operator ConfigMap", current, None)
    changed_at = configmap_changed_at(configmap)
    starts = [pod_started_at(p) for p in live_pods(pods)]
    known = [s for s in starts if s is not None]
    if not known or changed_at is None:
        return RestartDecision(False, "no running operator pod predates the ConfigMap", current, None)
    if min(known) >= changed_at:
        return RestartDecision(False, "the running operator pod started after the ConfigMap's last change", current,
                               None)
    return RestartDecision(True, "the running operator pod started before the ConfigMap's last change", current, None)


class Restarter:
    def __init__(self, kube: Kube, namespace: str, deployment: str, configmap: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.deployment_path = resource_path("apps", "v1", "deployments", namespace, deployment)
        self.configmap_path = resource_path("", "v1", "configmaps", namespace, configmap)
        self.deployment_name = deployment

    def pods(self, deployment: JSON) -> list[JSON]:
        selector = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        if not selector:
            return []
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return list(self.kube.list_items(resource_path("", "v1", "pods", self.namespace), labelSelector=label_selector))

    def run(self, *, ignore_keys: tuple[str, ...], config_changed: bool, dry_run: bool,
            revert: RevertStore | None, wait_timeout: float) -> JSON:
        deployment = self.kube.get_or_none(self.deployment_path)
        if deployment is None:
            return {"changed": False, "restarted": False,
                    "msg": f"deployment {self.deployment_name} does not exist (yet): nothing to restart"}
        configmap = self.kube.get_or_none(self.configmap_path)
        decision = decide(deployment, configmap, self.pods(deployment), ignore_keys=ignore_keys,
                          config_changed=config_changed)
        result: JSON = {"changed": False, "restarted": False, "msg": decision.why, "config_hash": decision.current_hash,
                        "diff": {"before": {"annotation": decision.stamped_hash},
                                 "after": {"annotation": decision.current_hash if decision.needed
                                           else decision.stamped_hash}}}
        if decision.needed:
            patch = {"spec": {"template": {"metadata": {"annotations": {LMES_HASH_ANNOTATION: decision.current_hash}}}}}
            if revert is not None:
                ref = ObjectRef("apps/v1", "Deployment", "deployments", self.deployment_name, self.namespace)
                revert.record(ref, patch, dry_run=dry_run)
            before_generation = deployment["metadata"].get("generation")
            patched = self.kube.merge_patch(self.deployment_path, patch, dry_run=dry_run)
            # Identical stamps from concurrent runs are no-ops: only a new generation is a restart.
            result["restarted"] = result["changed"] = patched["metadata"].get("generation") != before_generation \
                or dry_run
        if not dry_run:
            result["rollout"] = wait_for_rollout(self.kube, self.deployment_path, self.namespace, wait_timeout)
        return result


def wait_for_rollout(kube: Kube, deployment_path: str, namespace: str, timeout: float, interval: float = 0.5) -> JSON:
    """Until the newest ReplicaSet is available and no pod of an older one is left."""
    deadline = time.monotonic() + timeout
    last = "not observed yet"
    while time.monotonic() < deadline:
        deployment = kube.get_or_none(deployment_path)
        if deployment is None:
            last = "deployment disappeared"
        else:
            done, last = rollout_state(kube, deployment, namespace)
            if done:
                return {"complete": True, "detail": last}
        time.sleep(interval)
    raise WaitTimeout(f"rollout of the TrustyAI operator did not finish in {timeout:.0f}s: {last}",
                      hint=operator_unavailable_hint(kube, namespace))


def rollout_state(kube: Kube, deployment: JSON, namespace: str) -> tuple[bool, str]:
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    wanted = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration") or 0) < int(deployment["metadata"].get("generation") or 0):
        return False, "the deployment controller has not seen the new template yet"
    updated, available = int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0)
    if updated < wanted or available < wanted or int(status.get("replicas") or 0) > updated:
        return False, f"{updated}/{wanted} updated, {available} available, {status.get('replicas', 0)} total"
    revision = deployment["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
    selector = spec.get("selector", {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = list(kube.list_items(resource_path("", "v1", "pods", namespace), labelSelector=label_selector))
    replicasets = list(kube.list_items(resource_path("apps", "v1", "replicasets", namespace),
                                       labelSelector=label_selector))
    current = {rs["metadata"]["name"] for rs in replicasets
               if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == revision}
    stale = [p["metadata"]["name"] for p in pods
             if p["metadata"].get("deletionTimestamp")
             or not any(o.get("name") in current for o in p["metadata"].get("ownerReferences") or [])]
    if stale:
        return False, f"old operator pods still present: {', '.join(sorted(stale))}"
    return True, f"{available}/{wanted} available on revision {revision}"
