"""After a fault test restarts the apiserver, a fresh controller-manager runs the controllers at once (issue 15 item 5).

The running controller-manager would see the restarted apiserver only after its informers' backoff, which grows
with each restart of a fault chain; test_bootstrap_reliability spent up to 30 s of a bootstrap's rollout wait on
it. fault_support.bring_the_apiserver_back restarts both: the new process must be the one that runs, the old one
gone, and the controllers must work (a template change rolls out a new ReplicaSet).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from fault_support import bring_the_apiserver_back
from testsupport import wait_for

from lmeval_setup.kube.client import Kube

pytestmark = pytest.mark.controlplane
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
REPLICASETS = "/apis/apps/v1/namespaces/default/replicasets"


def _deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "after-fault"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "after-fault"}},
                     "template": {"metadata": {"labels": {"app": "after-fault"}},
                                  "spec": {"containers": [{"name": "main", "image": "example.invalid/x"}]}}}}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_fresh_controller_manager_runs_the_controllers_after_the_apiserver_is_back(new_controlplane: Any) -> None:
    kube = Kube.connect(str(new_controlplane.kubeconfig))
    kube.create(DEPLOYMENTS, _deployment())
    wait_for("the first ReplicaSet", lambda: len(list(kube.list_items(REPLICASETS))) == 1)
    old = new_controlplane.state().pgids["kube-controller-manager"]

    new_controlplane.kill_apiserver()
    bring_the_apiserver_back(new_controlplane)

    new = new_controlplane.state().pgids["kube-controller-manager"]
    assert new != old and _alive(new) and not _alive(old), (old, new)
    kube.merge_patch(f"{DEPLOYMENTS}/after-fault", {"spec": {"template": {"metadata": {"annotations": {"n": "1"}}}}})
    wait_for("the rollout's new ReplicaSet", lambda: len(list(kube.list_items(REPLICASETS))) == 2)
