"""Pure parts of bootstrap: revert records and runner options (the restart decision: test_operator_state)."""

from __future__ import annotations

from lmeval_setup.bootstrap.revert import Entry, ObjectRef, _restore_groups, entry_key, leaves, prior_of


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
