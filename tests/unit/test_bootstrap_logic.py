"""Pure parts of bootstrap: the restart decision, revert records, the plan per permission layer."""

from __future__ import annotations

from typing import Any

from lmeval_setup.bootstrap.restart import decide
from lmeval_setup.bootstrap.revert import Entry, ObjectRef, _restore_groups, entry_key, leaves, prior_of
from lmeval_setup.platform.detect import LMES_HASH_ANNOTATION, lmes_config_hash

CM = {"metadata": {"managedFields": [{"time": "2026-01-01T10:00:00Z"}], "creationTimestamp": "2026-01-01T09:00:00Z"},
      "data": {"lmes-allow-online": "true", "lmes-pod-image": "x"}}


def deployment(annotation: str | None = None) -> dict[str, Any]:
    annotations = {LMES_HASH_ANNOTATION: annotation} if annotation else {}
    return {"metadata": {"generation": 2}, "spec": {"template": {"metadata": {"annotations": annotations}}}}


def pod(started: str) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": {"phase": "Running", "startTime": started}}


def test_stamped_hash_decides() -> None:
    assert not decide(deployment(lmes_config_hash(CM)), CM, []).needed
    assert decide(deployment("stale"), CM, []).needed


def test_unstamped_pod_compares_start_time_with_configmap_change() -> None:
    assert decide(deployment(), CM, [pod("2026-01-01T09:30:00Z")]).needed
    assert not decide(deployment(), CM, [pod("2026-01-01T10:00:05Z")]).needed
    assert decide(deployment(), CM, [pod("2026-01-01T10:00:05Z")], config_changed=True).needed


def test_per_job_keys_never_restart() -> None:
    stamped = lmes_config_hash(CM, exclude=("lmes-allow-online", "lmes-allow-code-execution"))
    changed = {**CM, "data": {**CM["data"], "lmes-allow-online": "false"}}
    assert not decide(deployment(stamped), changed, [], ignore_keys=("lmes-allow-online",
                                                                      "lmes-allow-code-execution")).needed


def test_prior_recorded_at_topmost_missing_ancestor() -> None:
    live = {"spec": {"components": {"trustyai": {"managementState": "Removed"}}}}
    patch = {"spec": {"components": {"trustyai": {"eval": {"lmeval": {"permitOnline": "allow"}}}}}}
    [(path, _)] = leaves(patch)
    assert prior_of(live, path) == (("spec", "components", "trustyai", "eval"), False, None)
    assert prior_of(live, ("spec", "components", "trustyai", "managementState"))[1:] == (True, "Removed")


def test_restore_order_puts_deployment_last_and_reverses_recording() -> None:
    dsc = ObjectRef("datasciencecluster.opendatahub.io/v1", "DataScienceCluster", "datascienceclusters", "d")
    cm = ObjectRef("v1", "ConfigMap", "configmaps", "c", "ns")
    dep = ObjectRef("apps/v1", "Deployment", "deployments", "x", "ns")
    entries = [Entry(dsc, ("a",), True, 1, 0), Entry(cm, ("b",), True, 2, 1), Entry(dep, ("c",), False, None, 2)]
    assert [g[0].ref.kind for g in _restore_groups(entries)] == ["ConfigMap", "DataScienceCluster", "Deployment"]
    assert entry_key(cm, ("metadata", "annotations", "opendatahub.io/managed")).endswith("opendatahub.io_managed")
    assert Entry(dep, ("c",), False, None, 2).inverse_patch() == {"c": None}


def test_kubernetes_core_connection_failure_becomes_one_unreachable_line() -> None:
    from lmeval_setup.bootstrap.runner import connection_failure

    raw = ("HTTPSConnectionPool(host='127.0.0.1', port=57591): Max retries exceeded with url: /version (Caused by "
           "NewConnectionError(\"HTTPSConnection(host='127.0.0.1', port=57591): Failed to establish a new "
           "connection: [Errno 111] Connection refused\"))")
    reason, line = connection_failure(raw, "Permissions | set x") or ("", "")
    assert reason == "unreachable"
    assert line.startswith("cannot reach the cluster at https://127.0.0.1:57591 (connection refused)")
    assert "Permissions | set x" in line and "HTTPSConnectionPool" not in line
    assert connection_failure("Failed to patch object: 422 Unprocessable Entity", "t") is None


def test_wait_timeout_sets_both_role_timeouts() -> None:
    from lmeval_setup.bootstrap.runner import RunOptions, extravars

    values = extravars(RunOptions("bootstrap", wait_timeout=7))
    assert values["lmeval_wait_timeout"] == values["lmeval_rollout_timeout"] == 7
    assert "lmeval_wait_timeout" not in extravars(RunOptions("bootstrap"))
