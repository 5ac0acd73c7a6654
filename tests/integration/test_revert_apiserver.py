"""The revert record against the real kube-apiserver (issue 16 item 5): a dry run leaves record and objects
alone, and restoring removes only what bootstrap added, not keys others put next to it since."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lmeval_setup.bootstrap.revert import RECORD_NAME, ObjectRef, RevertStore
from lmeval_setup.kube.client import Kube, resource_path

pytestmark = pytest.mark.controlplane
MANAGED = {"metadata": {"annotations": {"opendatahub.io/managed": "false"}}}


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"revert-{uuid.uuid4().hex[:8]}"
    kube.create(resource_path("", "v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
    yield name
    kube.delete(resource_path("", "v1", "namespaces", name=name))


def bootstrapped_configmap(kube: Kube, namespace: str) -> tuple[RevertStore, ObjectRef]:
    """A ConfigMap without annotations that bootstrap annotated, recording the prior state first."""
    kube.create(resource_path("", "v1", "configmaps", namespace),
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "operator-config"},
                 "data": {"lmes-allow-online": "false"}})
    ref = ObjectRef("v1", "ConfigMap", plural="configmaps", name="operator-config", namespace=namespace)
    store = RevertStore(kube, namespace)
    assert store.record(ref, MANAGED)
    kube.merge_patch(ref.path, MANAGED)
    return store, ref


def test_restore_keeps_annotations_others_added_since(kube: Kube, namespace: str) -> None:
    store, ref = bootstrapped_configmap(kube, namespace)
    kube.merge_patch(ref.path, {"metadata": {"annotations": {"team": "evals"}}})
    store.restore()
    assert kube.get(ref.path)["metadata"].get("annotations") == {"team": "evals"}


def test_restore_of_an_untouched_object_is_byte_for_byte(kube: Kube, namespace: str) -> None:
    store, ref = bootstrapped_configmap(kube, namespace)
    store.restore()
    assert "annotations" not in kube.get(ref.path)["metadata"]


def test_dry_run_restore_keeps_the_record_and_the_object(kube: Kube, namespace: str) -> None:
    store, ref = bootstrapped_configmap(kube, namespace)
    record_before, object_before = store.read(), kube.get(ref.path)
    results = store.restore(dry_run=True)
    assert results and results[0]["changed"], "the dry run reports what it would put back"
    record_after = kube.get_or_none(resource_path("", "v1", "configmaps", namespace, RECORD_NAME))
    assert record_after is not None, "revert --dry-run deleted the revert record"
    assert record_after["metadata"]["resourceVersion"] == record_before["metadata"]["resourceVersion"]  # type: ignore[index]
    assert kube.get(ref.path)["metadata"]["resourceVersion"] == object_before["metadata"]["resourceVersion"]
    store.restore()
    assert store.read() is None, "the real restore still deletes the record"
