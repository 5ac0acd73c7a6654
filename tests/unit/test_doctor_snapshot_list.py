"""Snapshot.list answers an empty collection at once (the doctor asks every job's namespace for its PVCs
and Workloads) and everything else as before: sorted by namespace then name, filtered by labels."""

from __future__ import annotations

from typing import Any

from lmeval_setup.doctor.snapshot import Snapshot


def _pvc(ns: str, name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels}}


def _names(objs: list[dict[str, Any]]) -> list[str]:
    return [f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objs]


def test_list_by_namespace_and_labels() -> None:
    snap = Snapshot()
    for obj in (_pvc("b", "z"), _pvc("b", "a", app="x"), _pvc("a", "m", app="x"),
                {"metadata": {"name": "cluster-wide"}}):
        snap.add("", "persistentvolumeclaims", obj)
    assert _names(snap.list("", "v1", "persistentvolumeclaims")) == ["/cluster-wide", "a/m", "b/a", "b/z"]
    assert _names(snap.list("", "v1", "persistentvolumeclaims", "b")) == ["b/a", "b/z"]
    assert _names(snap.list("", "v1", "persistentvolumeclaims", "")) == ["/cluster-wide"]
    assert _names(snap.list("", "v1", "persistentvolumeclaims", label_selector="app=x")) == ["a/m", "b/a"]
    assert _names(snap.list("", "v1", "persistentvolumeclaims", "b", label_selector="app=x")) == ["b/a"]
    assert snap.list("", "v1", "persistentvolumeclaims", "c") == []
    assert snap.list("", "v1", "persistentvolumeclaims", "c", label_selector="app=x") == []
    assert snap.list("kueue.x-k8s.io", "", "workloads", "b") == []
    assert snap.list("kueue.x-k8s.io", "", "workloads") == []


def test_an_empty_answer_is_a_new_list_each_time() -> None:
    snap = Snapshot()
    first = snap.list("", "v1", "persistentvolumeclaims", "a")
    first.append({"metadata": {"name": "x"}})
    assert snap.list("", "v1", "persistentvolumeclaims", "a") == []
