"""While collect() reads a cluster the young-generation GC threshold is raised (doctor/gc_policy.py), and
the thresholds in force before are back when the last concurrent collection ends, whatever happened."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from lmeval_setup.doctor import collect as C
from lmeval_setup.doctor.gc_policy import GC_YOUNG_THRESHOLD_WHILE_READING, rare_collections_while_reading


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_collect_reads_with_the_raised_threshold_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []

    def reading(kube: Any, scope: C.Scope) -> str:
        seen.append(gc.get_threshold())
        return "snapshot"

    monkeypatch.setattr(C, "_collect", reading)
    assert C.collect(None, C.Scope(all_namespaces=True)) == "snapshot"  # type: ignore[arg-type,comparison-overlap]
    assert seen == [(GC_YOUNG_THRESHOLD_WHILE_READING, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failed_collection_restores_the_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(kube: Any, scope: C.Scope) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(C, "_collect", failing)
    with pytest.raises(KeyboardInterrupt):
        C.collect(None, C.Scope(all_namespaces=True))  # type: ignore[arg-type]
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_collections_restore_only_when_the_last_ends() -> None:
    first, second = rare_collections_while_reading(), rare_collections_while_reading()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD_WHILE_READING  # the second is still reading
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_collection_switched_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    with rare_collections_while_reading():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)
