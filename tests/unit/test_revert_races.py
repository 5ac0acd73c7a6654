"""Revert tolerates the platform deleting an object between our read and our patch.

Reverting TrustyAI to Removed makes the platform operator delete the operator Deployment; the
Deployment's restart stamp is restored last, so the delete can land between get and patch (seen in
the fleet benchmark on rhoai-2.16). The API is faked here because only the race matters.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.bootstrap.revert import Entry, ObjectRef, RevertStore
from lmeval_setup.kube.client import ApiError

DEPLOYMENT = ObjectRef("apps/v1", "Deployment", plural="deployments", name="op", namespace="apps-ns")


class DeletedDuringRevert:
    """get() still sees the Deployment; the patch arrives after the platform deleted it."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.deleted: list[str] = []

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        if path.endswith("/configmaps/lmeval-setup-revert"):
            return self.record
        return {"spec": {"template": {"metadata": {"annotations": {"stamp": "ours"}}}}}

    def merge_patch(self, path: str, patch: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        raise ApiError(404, "NotFound", f'deployments.apps "op" not found ({path})')

    def delete(self, path: str, *, dry_run: bool = False) -> None:
        self.deleted.append(path)


def test_object_deleted_while_reverting_is_skipped_and_the_record_removed() -> None:
    entry = Entry(DEPLOYMENT, ("spec", "template", "metadata", "annotations", "stamp"), present=False, value=None,
                  seq=1)
    kube = DeletedDuringRevert({"metadata": {"resourceVersion": "1"}, "data": {entry.key: entry.to_json()}})
    results = RevertStore(kube, "apps-ns").restore()  # type: ignore[arg-type]
    assert results == [{"object": "Deployment/op", "namespace": "apps-ns",
                        "fields": ["spec.template.metadata.annotations.stamp"], "changed": False,
                        "skipped": "object deleted while reverting"}]
    assert kube.deleted == ["/api/v1/namespaces/apps-ns/configmaps/lmeval-setup-revert"]
