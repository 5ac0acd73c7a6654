"""The lmeval_preflight module's `access` list -> Access (bootstrap.preflight.access_from_dicts).

The role passes the plan's required_access (every field, plus `describe`); a hand-written list may leave the
core group out. An entry without a verb or resource used to become Access(verb=None, ...) (typed str) and was
sent as a review of nothing in particular; it is now refused with one line naming the entry."""

from __future__ import annotations

from typing import Any

import pytest
from doctor_support import cluster_snapshot

from lmeval_setup.bootstrap.plan import Desired, make_plan
from lmeval_setup.bootstrap.preflight import access_from_dicts
from lmeval_setup.kube.access import Access
from lmeval_setup.platform.detect import detect


def test_the_plans_required_access_comes_back_as_it_was_planned() -> None:
    plan = make_plan(detect(cluster_snapshot()), Desired(), "lmeval-setup-revert")
    assert plan.required_access  # the reads at least
    assert access_from_dicts(plan.as_dict()["required_access"]) == plan.required_access


def test_a_hand_written_entry_without_a_group_is_the_core_group() -> None:
    assert access_from_dicts([{"verb": "get", "resource": "pods", "namespace": "ns"}]) == [
        Access("get", "", resource="pods", namespace="ns")]


@pytest.mark.parametrize("entry, missing", [
    ({"group": "apps", "resource": "deployments"}, "verb"),
    ({"verb": "patch", "group": "apps"}, "resource"),
    ({"verb": None, "resource": ""}, "verb or resource"),
])
def test_an_entry_without_verb_or_resource_is_refused_by_name(entry: dict[str, Any], missing: str) -> None:
    with pytest.raises(ValueError, match=f"has no {missing}$") as raised:
        access_from_dicts([{"verb": "get", "resource": "pods"}, entry])
    assert "\n" not in str(raised.value)
