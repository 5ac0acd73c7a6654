"""After a CRD's schema changes, the apiserver validates with the old schema until its CRD informer has seen
the update; Established is already True, so waiting for it proves nothing. A fresh-clone CI run failed the
whole live lm-eval matrix (55 errors) that way: upstream v1.38.0's CRD replaced rhoai-2.25's, and the job
with the model type v1.38.0 admits ("local-completion") was refused by 2.25's enum. Against a real apiserver
with ten CPU burners, 2 of 300 creates right after the schema change were refused.

Here the apiserver is a fake that refuses the first creates after each CRD write as the lagging one does;
install_crd must return only once the jobs are admitted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from lmeval_setup.kube.client import ApiError
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.profiles import wait_admitted

INTEGRATION = str(Path(__file__).resolve().parents[1] / "integration")
sys.path.insert(0, INTEGRATION)
try:
    import realmanager_support as RM
finally:
    sys.path.remove(INTEGRATION)

STALE_CREATES = 3
REFUSAL = 'spec.model: Unsupported value: "local-completion"'
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: lmevaljobs.trustyai.opendatahub.io}
spec: {group: trustyai.opendatahub.io}
"""


class LaggingApiserver:
    """Refuses the first STALE_CREATES creates after each CRD write with the old schema's 422."""

    def __init__(self) -> None:
        self.stale = 0
        self.created: list[str] = []
        self.dry_runs = 0

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert method == "PATCH" and "customresourcedefinitions" in path
        self.stale = STALE_CREATES
        return {}

    def get_or_none(self, path: str) -> dict[str, Any]:
        return {"status": {"conditions": [{"type": "Established", "status": "True"}]}}

    def create(self, collection: str, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        if "lmevaljobs" in collection and self.stale:
            self.stale -= 1
            raise ApiError(422, "Invalid", REFUSAL)
        if dry_run:
            self.dry_runs += 1
        elif "lmevaljobs" in collection:
            self.created.append(body["metadata"]["name"])
        return body


def _build(tmp_path: Path) -> OB.OperatorBuild:
    build = OB.OperatorBuild("v1.38.0", "0" * 40, tmp_path)
    build.crd.parent.mkdir(parents=True)
    build.crd.write_text(CRD)
    return build


def test_a_job_the_new_schema_admits_is_created_right_after_the_crd_changes(tmp_path: Path) -> None:
    api = LaggingApiserver()
    managers = RM.RealManagers(api, tmp_path / "kubeconfig", tmp_path)  # type: ignore[arg-type]
    job = RM.job_body("model-type-typo", {"model": "local-completion"})
    managers.install_crd(_build(tmp_path), [job])
    api.create(RM.JOBS, job)  # refused by the old schema when install_crd returned too early
    assert api.created == ["model-type-typo"]
    assert api.dry_runs == 1


def test_a_body_the_schema_keeps_refusing_raises_the_refusal() -> None:
    api = LaggingApiserver()
    api.stale = 10**6
    with pytest.raises(ApiError, match="Unsupported value"):
        wait_admitted(api, RM.JOBS, [{"metadata": {"name": "x"}}], timeout=0.3)  # type: ignore[arg-type]


def test_a_refusal_other_than_invalid_is_not_waited_out() -> None:
    class Forbidden(LaggingApiserver):
        def create(self, collection: str, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
            self.dry_runs += 1
            raise ApiError(403, "Forbidden", "lmevaljobs is forbidden")

    api = Forbidden()
    with pytest.raises(ApiError, match="forbidden"):
        wait_admitted(api, RM.JOBS, [{"metadata": {"name": "x"}}], timeout=30)  # type: ignore[arg-type]
    assert api.dry_runs == 1
