"""An idempotent rollout restart of the TrustyAI operator (kubernetes.core has none: kubernetes.core#567).

Whether to restart is not decided here: platform.operator_state.startup_config_state() is the one
answer to "has the running operator loaded the current start-up configuration", shared with the
plan, the facts module and the doctor (LME106).

The restart is a pod-template annotation whose value is the hash of the configuration the operator
reads at start-up, not a timestamp: stamping the same hash twice changes nothing, so a second run, or
five concurrent runs, start at most one rollout. Whether *this* run started it is only known for a
patch made on the Deployment as it was read (a resourceVersion precondition): a run whose read is
outdated gets 409, reads again, and finds the template already stamped with the hash it wanted, so it
waits for that rollout instead of claiming it. It is complete when no pod of an older ReplicaSet is
left, terminating or not (operator_state.deployment_readiness): until then an old manager may still
reconcile new jobs with the configuration it loaded.
"""

from __future__ import annotations

import time
from typing import Any

from lmeval_setup.bootstrap.revert import ObjectRef, RevertStore
from lmeval_setup.bootstrap.wait import operator_unavailable_hint
from lmeval_setup.errors import ClusterError, WaitTimeout
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform.operator_state import (
    LMES_HASH_ANNOTATION,
    Readiness,
    StartupConfigState,
    deployment_readiness,
    selector_string,
    startup_config_state,
)
from lmeval_setup.platform.releases import Release

JSON = dict[str, Any]
# Conflicting writers settle in one or two re-reads; more means something keeps rewriting the Deployment.
STAMP_ATTEMPTS = 5


class Restarter:
    def __init__(self, kube: Kube, namespace: str, deployment: str, configmap: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.deployment_path = resource_path("apps", "v1", "deployments", namespace, deployment)
        self.configmap_path = resource_path("", "v1", "configmaps", namespace, configmap)
        self.deployment_name = deployment

    def pods(self, deployment: JSON) -> list[JSON]:
        return operator_pods(self.kube, self.namespace, deployment)

    def run(self, *, release: Release, dry_run: bool, revert: RevertStore | None, wait_timeout: float,
            config_changed: bool = False) -> JSON:
        for _ in range(STAMP_ATTEMPTS):
            deployment = self.kube.get_or_none(self.deployment_path)
            if deployment is None:
                return {"changed": False, "restarted": False,
                        "msg": f"deployment {self.deployment_name} does not exist (yet): nothing to restart"}
            configmap = self.kube.get_or_none(self.configmap_path)
            state = startup_config_state(release, deployment, configmap, self.pods(deployment),
                                         changed_by_this_run=config_changed)
            stamp = state.restart_needed and state.template_hash != state.current_hash
            result = _result(state, stamp)
            if state.restart_needed and not stamp:
                result["msg"] = (f"{state.why}; the pod template already carries the current hash "
                                 f"{state.current_hash}: a rollout with it was started before, waiting for it")
            try:
                if stamp:
                    result["restarted"] = result["changed"] = self._stamp(deployment, state.current_hash, revert,
                                                                          dry_run)
                break
            except ApiError as exc:
                if not exc.conflict:
                    raise
                # The Deployment changed since it was read (another run's stamp, or a status update): decide again.
        else:
            raise ClusterError(f"deployment {self.deployment_name} kept changing while it was being restarted "
                                f"({STAMP_ATTEMPTS} conflicts in a row); run bootstrap again", reason="conflict")
        if not dry_run:
            result["rollout"] = wait_for_rollout(self.kube, self.deployment_path, self.namespace, wait_timeout)
        return result

    def _stamp(self, deployment: JSON, config_hash: str, revert: RevertStore | None, dry_run: bool) -> bool:
        """Stamp the hash on the pod template of the Deployment as read (recorded for revert first).

        The resourceVersion makes the patch conditional: it applies only to the object the decision was
        made on, and answers 409 otherwise. So when it applies and the generation moves, this run, and no
        concurrent one, started the rollout."""
        patch: JSON = {"spec": {"template": {"metadata": {"annotations": {LMES_HASH_ANNOTATION: config_hash}}}}}
        if revert is not None:
            ref = ObjectRef("apps/v1", "Deployment", plural="deployments", name=self.deployment_name,
                            namespace=self.namespace)
            revert.record(ref, patch, dry_run=dry_run)
        metadata = deployment["metadata"]
        conditional = {**patch, "metadata": {"resourceVersion": metadata["resourceVersion"]}}
        patched = self.kube.merge_patch(self.deployment_path, conditional, dry_run=dry_run)
        return dry_run or patched["metadata"].get("generation") != metadata.get("generation")


def _result(state: StartupConfigState, stamp: bool) -> JSON:
    return {"changed": False, "restarted": False, "msg": state.why, "config_hash": state.current_hash,
            "loaded": state.verdict.value,
            "diff": {"before": {"annotation": state.template_hash},
                     "after": {"annotation": state.current_hash if stamp else state.template_hash}}}


def operator_pods(kube: Kube, namespace: str, deployment: JSON) -> list[JSON]:
    """The Deployment's pods, by its own selector."""
    selector = selector_string(deployment)
    if not selector:
        return []
    return list(kube.list_items(resource_path("", "v1", "pods", namespace), labelSelector=selector))


def rollout_readiness(kube: Kube, deployment: JSON, namespace: str) -> Readiness:
    """deployment_readiness() with the pods and ReplicaSets read, so that old pods are looked for."""
    status_only = deployment_readiness(deployment)
    if not status_only.rolled_out:
        return status_only  # no need to list anything yet
    selector = selector_string(deployment)
    replicasets = list(kube.list_items(resource_path("apps", "v1", "replicasets", namespace), labelSelector=selector))
    return deployment_readiness(deployment, pods=operator_pods(kube, namespace, deployment), replicasets=replicasets)


def wait_for_rollout(kube: Kube, deployment_path: str, namespace: str, timeout: float, interval: float = 0.5) -> JSON:
    """Until the Deployment is rolled out and no pod of an older ReplicaSet is left."""
    deadline = time.monotonic() + timeout
    last = "not observed yet"
    while time.monotonic() < deadline:
        deployment = kube.get_or_none(deployment_path)
        if deployment is None:
            last = "deployment disappeared"
        else:
            readiness = rollout_readiness(kube, deployment, namespace)
            last = readiness.detail
            if readiness.rolled_out:
                return {"complete": True, "detail": last}
        time.sleep(interval)
    raise WaitTimeout(f"rollout of the TrustyAI operator did not finish in {timeout:.0f}s: {last}",
                      hint=operator_unavailable_hint(kube, namespace))
