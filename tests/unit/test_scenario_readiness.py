"""A bootstrapped sandbox is ready only once the operator's rollout is over (scenarios._bootstrapped_ready).

The ConfigMap lines' scenario ends with a rollout restart. While the old pod terminates it is already
counted out of the Deployment's `replicas` (so `available` holds) but its manager still runs with the old
lmes-* values: a job created then could be built offline by it. broken-jobs' eval-good got LME102 so, now
and then (rhoai-2.22, simulated operator). Ready waits until no pod of an older ReplicaSet is left.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox import scenarios as S

PROFILE = P.get_profile("rhoai-2.22")
NS = PROFILE.release.default_applications_namespace
LABELS = PROFILE.release.operator_pod_labels


class FakeKube:
    """Answers the reads the readiness check makes from a dict of path -> object."""

    def __init__(self, objects: dict[str, Any]) -> None:
        self.objects = objects

    def get_or_none(self, path: str) -> Any:
        return self.objects.get(path)

    def get(self, path: str, **query: Any) -> Any:
        return self.objects[path]


def _rs(name: str, revision: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": revision}}}


def _pod(name: str, rs: str, *, terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": LABELS,
                            "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]}
    if terminating:
        meta["deletionTimestamp"] = "2026-12-06T08:00:00Z"
    return {"metadata": meta, "status": {"phase": "Running"}}


def _cluster(pods: list[dict[str, Any]]) -> FakeKube:
    deployment = {"metadata": {"generation": 2, "annotations": {"deployment.kubernetes.io/revision": "2"}},
                  "spec": {"selector": {"matchLabels": LABELS}},
                  "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}
    dsc = {"status": {"conditions": [{"type": PROFILE.release.trustyai_condition, "status": "True"}]}}
    return FakeKube({
        P.dsc_path(PROFILE.release, P.DSC_NAME): dsc,
        resource_path("apps", "v1", "deployments", NS, R.OPERATOR_DEPLOYMENT): deployment,
        resource_path("", "v1", "pods", NS): {"items": pods},
        resource_path("apps", "v1", "replicasets", NS): {"items": [_rs("old", "1"), _rs("new", "2")]},
    })


def test_not_ready_while_the_old_operator_pod_still_runs() -> None:
    rolling = _cluster([_pod("new-1", "new"), _pod("old-1", "old", terminating=True)])
    assert S.operator_available(rolling, PROFILE)  # type: ignore[arg-type]  # what the scenario waited for before: not enough
    assert not S._bootstrapped_ready(rolling, PROFILE)  # type: ignore[arg-type]
    assert S._bootstrapped_ready(_cluster([_pod("new-1", "new")]), PROFILE)  # type: ignore[arg-type]
