"""The ConfigMap lines' permission step (scenarios.permit_via_configmap) against a platform operator that reads
the ConfigMap, then applies its manifest with force.

Two fresh-clone runs failed broken-jobs on rhoai-2.22 with LME102 on eval-good: its pod was built offline. The
run's etcd showed trustyai-service-operator-config annotated `opendatahub.io/managed: "false"` by lmeval-setup
but holding lmes-allow-online "false", every data key owned by the platform's `trustyai` apply: a reconcile
that had read the ConfigMap before the annotation arrived applied the defaults over our patch. The data is now
patched only after the platform has let the ConfigMap go (its owner reference removed), which only a reconcile
that saw the annotation does.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox import scenarios as S


class RacingPlatform:
    """A ConfigMap and a platform operator whose in-flight reconcile read it before the annotation: its forced
    apply of the defaults lands `lag` reads after the annotation; the reconcile after it lets the ConfigMap go."""

    def __init__(self, profile: Any, lag: int = 3) -> None:
        self.path = S.operator_configmap_path(profile)
        self.honours = profile.release.honours_managed_annotation
        self.cm: dict[str, Any] = {"metadata": {"name": R.OPERATOR_CONFIGMAP, "annotations": {},
                                                "ownerReferences": [{"kind": "DataScienceCluster"}]},
                                   "data": {R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"}}
        self.lag = lag
        self.reads_since_annotation: int | None = None
        self.log: list[str] = []

    def _platform_step(self) -> None:
        if self.reads_since_annotation is None:
            return
        self.reads_since_annotation += 1
        if self.reads_since_annotation == self.lag:  # the stale reconcile's forced apply
            self.cm["data"].update({R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"})
            self.log.append("platform applied defaults")
        elif self.reads_since_annotation == self.lag + 1 and self.honours:  # the next one saw the annotation
            self.cm["metadata"].pop("ownerReferences", None)
            self.log.append("platform let it go")

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
            self.reads_since_annotation = 0
            self.log.append("annotated")
        if "data" in body:
            self.cm["data"].update(body["data"])
            self.log.append("data patched")
        return copy.deepcopy(self.cm)


def test_the_data_is_patched_after_the_platform_let_the_configmap_go(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = P.get_profile("rhoai-2.22")
    platform = RacingPlatform(profile)
    monkeypatch.setattr(S, "rollout_restart", lambda kube, profile: platform.log.append("restarted"))
    monkeypatch.setattr(S.time, "sleep", lambda seconds: None)

    S.permit_via_configmap(platform, profile)  # type: ignore[arg-type]

    assert platform.cm["data"][R.CM_ALLOW_ONLINE] == "true", platform.log
    assert platform.cm["data"][R.CM_ALLOW_CODE] == "true", platform.log
    assert platform.log.index("platform let it go") < platform.log.index("data patched"), platform.log
    assert platform.log[-1] == "restarted", platform.log


def test_the_legacy_line_ignores_the_annotation_so_nothing_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """2.16's platform reverts edits only at its next reconcile (a DSC change or its restart) and never lets the
    ConfigMap go: waiting for that would hang the scenario."""
    profile = P.get_profile("rhoai-2.16")
    platform = RacingPlatform(profile, lag=10**6)
    monkeypatch.setattr(S, "rollout_restart", lambda kube, profile: platform.log.append("restarted"))

    S.permit_via_configmap(platform, profile)  # type: ignore[arg-type]

    assert platform.log == ["annotated", "data patched", "restarted"]
    assert platform.cm["data"][R.CM_ALLOW_ONLINE] == "true"
