"""Rendering of bootstrap results: --diff shows the changed field, not the server's bookkeeping."""

from __future__ import annotations

from lmeval_setup.bootstrap.runner import EventCollector
from lmeval_setup.cli.bootstrap import diff_lines


def _dsc(state: str, generation: int) -> dict[str, object]:
    return {
        "metadata": {"name": "default-dsc", "generation": generation, "resourceVersion": str(generation),
                     "managedFields": [{"manager": "x", "time": f"t{generation}"}]},
        "spec": {"components": {"trustyai": {"managementState": state}}},
        "status": {"phase": "Ready"},
    }


def test_diff_shows_the_field_and_hides_bookkeeping() -> None:
    lines = diff_lines({"before": _dsc("Removed", 1), "after": _dsc("Managed", 2)})
    assert "-      managementState: Removed" in lines and "+      managementState: Managed" in lines
    assert not any("generation" in line or "managedFields" in line or "resourceVersion" in line for line in lines)


def test_no_diff_no_lines() -> None:
    assert diff_lines(None) == [] and diff_lines({"prepared": "x"}) == []


def test_collector_keeps_the_diff_of_changed_steps_only() -> None:
    collector = EventCollector()
    diff = {"before": {"data": {"a": "1"}}, "after": {"data": {"a": "2"}}}
    collector({"event": "runner_on_ok", "event_data": {"host": "c", "task": "r : patch", "res": {
        "changed": True, "diff": diff}}})
    collector({"event": "runner_on_ok", "event_data": {"host": "c", "task": "r : read", "res": {
        "changed": False, "diff": diff}}})
    changed, read = collector.clusters["c"].steps
    assert changed.status == "changed" and changed.diff == diff
    assert read.status == "ok" and read.diff is None
