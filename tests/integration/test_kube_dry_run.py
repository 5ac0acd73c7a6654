"""Every write verb of the Kube client in dry-run mode writes nothing, on the real kube-apiserver.

`revert --dry-run` used to delete the revert record for real: Kube.delete sent a DeleteOptions body,
and the apiserver then reads every delete option, dryRun included, from the body and ignores the
`?dryRun=All` query (issue 16 item 5). Each verb is checked against what the apiserver itself
reports afterwards: the object's resourceVersion, its content, its existence.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lmeval_setup.kube.client import Kube, resource_path

pytestmark = pytest.mark.controlplane
JSON = dict[str, Any]


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"dry-run-{uuid.uuid4().hex[:8]}"
    kube.create(resource_path("", "v1", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
    yield name
    kube.delete(resource_path("", "v1", "namespaces", name=name))


def configmap(kube: Kube, namespace: str, name: str = "subject") -> JSON:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"key": "before"}}
    return kube.create(resource_path("", "v1", "configmaps", namespace), body)


def path_of(namespace: str, name: str = "subject") -> str:
    return resource_path("", "v1", "configmaps", namespace, name)


def test_delete_dry_run_keeps_the_object(kube: Kube, namespace: str) -> None:
    live = configmap(kube, namespace)
    kube.delete(path_of(namespace), dry_run=True)
    after = kube.get_or_none(path_of(namespace))
    assert after is not None, "a dry-run delete deleted the object"
    assert after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    kube.delete(path_of(namespace))
    assert kube.get_or_none(path_of(namespace)) is None, "a real delete still deletes"


def test_create_dry_run_creates_nothing(kube: Kube, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "never", "namespace": namespace}}
    answer = kube.create(resource_path("", "v1", "configmaps", namespace), body, dry_run=True)
    assert answer["metadata"]["name"] == "never"
    assert kube.get_or_none(path_of(namespace, "never")) is None


@pytest.mark.parametrize("verb", ["merge_patch", "json_patch", "apply", "replace"])
def test_update_verbs_dry_run_change_nothing(kube: Kube, namespace: str, verb: str) -> None:
    live = configmap(kube, namespace)
    path = path_of(namespace)
    if verb == "merge_patch":
        answer = kube.merge_patch(path, {"data": {"key": "after"}}, dry_run=True)
    elif verb == "json_patch":
        answer = kube.json_patch(path, [{"op": "replace", "path": "/data/key", "value": "after"}], dry_run=True)
    elif verb == "apply":
        answer = kube.apply(path, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "subject", "namespace": namespace},
                                   "data": {"key": "after"}}, dry_run=True)
    else:
        answer = kube.replace(path, {**live, "data": {"key": "after"}}, dry_run=True)
    assert answer["data"]["key"] == "after", "the apiserver answers with the object as it would be"
    after = kube.get(path)
    assert after["data"] == {"key": "before"}
    assert after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
