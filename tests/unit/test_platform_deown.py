"""Which platform versions drop their owner reference from a ConfigMap annotated opendatahub.io/managed: "false".

The platform stand-in de-owned the annotated ConfigMap on every component-era line, and the sandbox's ConfigMap
setup waited for that. The real deploy action only `continue`s up to rhods-operator rhoai-2.22 (3f3de5e3ae) and
ODH v2.31; RemoveOwnerReferences came with ODH-OP be9b0ccab (v2.32.0) and is on the rhoai-2.23 branch
(65565ffd5c). On rhoai-2.22, the line of `make demo`, the reference stays (and a Removed component's garbage
collection still takes the ConfigMap).
"""

from __future__ import annotations

from typing import Any

import pytest

from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox.platform_operator import PlatformOperator

OWNER = [{"apiVersion": "components.platform.opendatahub.io/v1alpha1", "kind": "TrustyAI", "name": "default-trustyai"}]


class RecordingKube:
    """Serves one annotated, owned ConfigMap; records every write."""

    def __init__(self) -> None:
        self.cm = {"metadata": {"name": R.OPERATOR_CONFIGMAP, "annotations": {R.MANAGED_ANNOTATION: "false"},
                                "ownerReferences": OWNER}, "data": {R.CM_ALLOW_ONLINE: "true"}}
        self.writes: list[tuple[str, Any]] = []

    def get_or_none(self, path: str) -> Any:
        return self.cm if path.endswith("/" + R.OPERATOR_CONFIGMAP) else None

    def json_patch(self, path: str, ops: Any) -> Any:
        self.writes.append(("json_patch", ops))
        return self.cm

    def request(self, method: str, path: str, **kw: Any) -> Any:
        self.writes.append((method, path))
        return {}


@pytest.mark.parametrize(("platform", "version", "deowns"), [
    ("rhoai", "2.17.0", False), ("rhoai", "2.22.1", False), ("rhoai", "2.23.0", True), ("rhoai", "2.24.2", True),
    ("rhoai", "2.25.0", True), ("rhoai", "3.5.0", True),
    ("odh", "2.22.0", False), ("odh", "2.31.0", False), ("odh", "2.32.0", True), ("odh", "3.0.0", True),
])
def test_an_annotated_configmap_is_skipped_and_de_owned_only_where_the_release_does(
        platform: R.Platform, version: str, deowns: bool) -> None:
    release = R.release_for(platform, R.parse_version(version))
    kube = RecordingKube()
    operator = PlatformOperator(kube, release, version=version)  # type: ignore[arg-type]

    operator._apply_configmap("ns", {"metadata": {"name": R.OPERATOR_CONFIGMAP},
                                     "data": {R.CM_ALLOW_ONLINE: "false"}}, OWNER)

    removal = ("json_patch", [{"op": "remove", "path": "/metadata/ownerReferences"}])
    assert kube.writes == ([removal] if deowns else []), "skipped: never applied over the user's data"
    assert release.deowns_unmanaged(R.parse_version(version)) is deowns


def test_the_legacy_line_never_de_owns_and_an_unknown_version_counts_as_the_lines_first() -> None:
    assert not R.release_for("rhoai", (2, 16)).deowns_unmanaged((2, 16))
    line = R.release_for("rhoai", (2, 22))
    assert not line.deowns_unmanaged(None)
    assert R.release_for("rhoai", (2, 25)).deowns_unmanaged(None)
