"""Concurrent restarts: only the run whose stamp started the rollout may say it restarted the operator.

CI once saw five concurrent bootstraps report three restarts while the Deployment got one new
generation: a run read the Deployment, another run stamped it, and the first run's identical stamp,
a no-op, was compared with the generation it had read before the other's. The test below makes
that interleaving happen every time, on the real apiserver, instead of hoping a thread pool does.
"""

from __future__ import annotations

import time
from typing import Any

from bootstrap_support import sandbox

from lmeval_setup.bootstrap.restart import Restarter
from lmeval_setup.kube.client import JSON, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.operator_state import LMES_HASH_ANNOTATION, startup_config_hash


class StampedJustBefore(Kube):
    """A client whose first Deployment patch lets a concurrent run stamp the same hash first."""

    def __init__(self, kubeconfig: str, competitor_stamp: JSON) -> None:
        connected = Kube.connect(kubeconfig)
        super().__init__(connected._transport, connected.context)
        self.competitor = Kube.connect(kubeconfig)
        self.competitor_stamp = competitor_stamp
        self.raced = False

    def merge_patch(self, path: str, patch: JSON, *, dry_run: bool = False) -> JSON:
        if "/deployments/" in path and not self.raced:
            self.raced = True
            self.competitor.merge_patch(path, self.competitor_stamp)
        return super().merge_patch(path, patch, dry_run=dry_run)


def generation(kube: Kube, path: str) -> int:
    return int(kube.get(path)["metadata"]["generation"])


def test_a_run_whose_stamp_was_beaten_does_not_claim_the_restart(new_controlplane: Any) -> None:
    with sandbox(new_controlplane, "rhoai-2.22", "bootstrapped") as sb:
        kube, ns, release = sb.kube, sb.namespace, sb.release
        cm_path = resource_path("", "v1", "configmaps", ns, R.OPERATOR_CONFIGMAP)
        deployment_path = resource_path("apps", "v1", "deployments", ns, R.OPERATOR_DEPLOYMENT)
        time.sleep(1.1)  # a later second than the running pods' start: the change is surely not loaded
        kube.merge_patch(cm_path, {"data": {"lmes-default-batch-size": "16"}})
        wanted = startup_config_hash(kube.get(cm_path), release)
        stamp = {"spec": {"template": {"metadata": {"annotations": {LMES_HASH_ANNOTATION: wanted}}}}}
        before = generation(kube, deployment_path)

        racing = StampedJustBefore(str(new_controlplane.kubeconfig), stamp)
        result = Restarter(racing, ns, R.OPERATOR_DEPLOYMENT, R.OPERATOR_CONFIGMAP).run(
            release=release, dry_run=False, revert=None, wait_timeout=120)

        assert racing.raced, "the competing stamp must have gone first"
        assert generation(kube, deployment_path) == before + 1, "one rollout in all"
        assert not result["restarted"], "the other run started the rollout: " + result["msg"]
        assert result["rollout"]["complete"]
        again = Restarter(kube, ns, R.OPERATOR_DEPLOYMENT, R.OPERATOR_CONFIGMAP).run(
            release=release, dry_run=False, revert=None, wait_timeout=120)
        assert not again["restarted"] and generation(kube, deployment_path) == before + 1
