"""The ConfigMap lines' permission step (scenarios.permit_via_configmap) against a platform operator that reads
the ConfigMap, then applies its manifest with force.

Two fresh-clone runs failed broken-jobs on rhoai-2.22 with LME102 on eval-good: its pod was built offline. The
run's etcd showed trustyai-service-operator-config annotated `opendatahub.io/managed: "false"` by lmeval-setup
but holding lmes-allow-online "false", every data key owned by the platform's `trustyai` apply: a reconcile
that had read the ConfigMap before the annotation arrived applied the defaults over our patch. The setup then
waited for the platform to let the ConfigMap go (its owner reference removed), which the sandbox's platform did
on rhoai-2.22 but the real one does only from 2.23 (tests/unit/test_platform_deown.py): on a real 2.22 that wait
never ends. The data is now read again once the restarted operator has rolled out, and patched and restarted
again if the platform put it back.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lmeval_setup.errors import ClusterError
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox import scenarios as S


class RacingPlatform:
    """A ConfigMap and a platform operator whose in-flight reconcile read it before the annotation: its forced
    apply of the defaults lands `lag` calls after the annotation. Later reconciles skip the annotated ConfigMap,
    except on a line that ignores the annotation (`reverts_always`: each `lag` calls)."""

    def __init__(self, profile: Any, lag: int = 2, reverts_always: bool = False) -> None:
        self.path = S.operator_configmap_path(profile)
        self.cm: dict[str, Any] = {"metadata": {"name": R.OPERATOR_CONFIGMAP, "annotations": {},
                                                "ownerReferences": [{"kind": "DataScienceCluster"}]},
                                   "data": {R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"}}
        self.lag = lag
        self.reverts_always = reverts_always
        self.calls_since_annotation: int | None = None
        self.log: list[str] = []

    def _platform_step(self) -> None:
        if self.calls_since_annotation is None:
            return
        self.calls_since_annotation += 1
        due = (self.calls_since_annotation % self.lag == 0 if self.reverts_always
               else self.calls_since_annotation == self.lag)
        if due and self.cm["data"][R.CM_ALLOW_ONLINE] != "false":  # the stale reconcile's forced apply
            self.cm["data"].update({R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"})
            self.log.append("platform applied defaults")

    def get_or_none(self, path: str) -> Any:
        self._platform_step()
        if path == self.path:
            return copy.deepcopy(self.cm)
        return {"metadata": {"name": "other"}}

    def get(self, path: str, **query: Any) -> Any:
        found = self.get_or_none(path)
        assert found is not None
        return found

    def merge_patch(self, path: str, body: dict[str, Any]) -> Any:
        self._platform_step()
        assert path == self.path, path
        if "annotations" in body.get("metadata", {}):
            self.cm["metadata"]["annotations"].update(body["metadata"]["annotations"])
            self.calls_since_annotation = 0
            self.log.append("annotated")
        if "data" in body:
            self.cm["data"].update(body["data"])
            self.log.append("data patched")
        return copy.deepcopy(self.cm)


@pytest.fixture
def instant_rollouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The restarted operator is rolled out as soon as it is asked (the fake has no Deployment to read)."""
    monkeypatch.setattr(S, "operator_available", lambda kube, profile: True)
    monkeypatch.setattr(S, "operator_rolled_out", lambda kube, profile: True)
    monkeypatch.setattr(S.time, "sleep", lambda seconds: None)


@pytest.mark.usefixtures("instant_rollouts")
def test_data_put_back_by_a_reconcile_in_flight_is_patched_and_the_operator_restarted_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    profile = P.get_profile("rhoai-2.22")
    platform = RacingPlatform(profile)
    monkeypatch.setattr(S, "rollout_restart", lambda kube, profile: platform.log.append("restarted"))

    S.permit_via_configmap(platform, profile)  # type: ignore[arg-type]

    assert platform.cm["data"] == {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}, platform.log
    assert platform.log == ["annotated", "data patched", "platform applied defaults", "restarted",
                            "data patched", "restarted"]


@pytest.mark.usefixtures("instant_rollouts")
def test_data_that_held_is_patched_and_restarted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = P.get_profile("rhoai-2.22")
    platform = RacingPlatform(profile, lag=10**6)
    monkeypatch.setattr(S, "rollout_restart", lambda kube, profile: platform.log.append("restarted"))

    S.permit_via_configmap(platform, profile)  # type: ignore[arg-type]

    assert platform.log == ["annotated", "data patched", "restarted"]


@pytest.mark.usefixtures("instant_rollouts")
def test_a_platform_that_keeps_putting_the_data_back_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """2.16's platform ignores the annotation: were it to reconcile after every patch, setup says so."""
    profile = P.get_profile("rhoai-2.16")
    platform = RacingPlatform(profile, lag=2, reverts_always=True)
    monkeypatch.setattr(S, "rollout_restart", lambda kube, profile: platform.log.append("restarted"))

    with pytest.raises(ClusterError, match=r"put lmes-allow-online, lmes-allow-code-execution .* back 3 times"):
        S.permit_via_configmap(platform, profile)  # type: ignore[arg-type]
    assert platform.log.count("restarted") == S.PERMIT_ATTEMPTS
