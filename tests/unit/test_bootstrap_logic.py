"""Pure parts of bootstrap: revert records and runner options (the restart decision: test_operator_state)."""

from __future__ import annotations

from lmeval_setup.bootstrap.revert import (
    Entry,
    ObjectRef,
    _restore_groups,
    entry_key,
    leaves,
    prior_of,
    restore_patch,
)


def test_prior_of_a_field_whose_parent_is_missing_is_the_field_with_its_missing_depth() -> None:
    live = {"spec": {"components": {"trustyai": {"managementState": "Removed"}}}}
    patch = {"spec": {"components": {"trustyai": {"eval": {"lmeval": {"permitOnline": "allow"}}}}}}
    [(path, _)] = leaves(patch)
    assert prior_of(live, path) == (False, None, 4)  # `eval` (depth 4) is the topmost missing ancestor
    assert prior_of(live, ("spec", "components", "trustyai", "managementState")) == (True, "Removed", None)
    assert prior_of(live, ("spec", "components", "trustyai", "absent")) == (False, None, None)


CM_REF = ObjectRef("v1", "ConfigMap", plural="configmaps", name="c", namespace="ns")
ANNOTATION = ("metadata", "annotations", "opendatahub.io/managed")


def test_restore_removes_only_the_keys_bootstrap_added() -> None:
    """Bootstrap created metadata.annotations for its one key; somebody added another since: it stays."""
    ours = Entry(CM_REF, ANNOTATION, present=False, value=None, seq=0, missing_from=2)
    live = {"metadata": {"annotations": {"opendatahub.io/managed": "false", "team": "x"}}}
    assert restore_patch(live, [ours]) == {"metadata": {"annotations": {"opendatahub.io/managed": None}}}
    # Nothing else there: the parent bootstrap created goes too, so the object is back byte for byte.
    alone = {"metadata": {"annotations": {"opendatahub.io/managed": "false"}}}
    assert restore_patch(alone, [ours]) == {"metadata": {"annotations": None}}


def test_restore_removes_a_created_subtree_holding_only_bootstraps_fields() -> None:
    dsc = ObjectRef("datasciencecluster.opendatahub.io/v1", "DataScienceCluster", plural="datascienceclusters",
                    name="d")
    base = ("spec", "components", "trustyai")
    group = [Entry(dsc, (*base, "managementState"), present=True, value="Removed", seq=0),
             Entry(dsc, (*base, "eval", "lmeval", "permitOnline"), present=False, value=None, seq=1, missing_from=4),
             Entry(dsc, (*base, "eval", "lmeval", "permitCodeExecution"), present=False, value=None, seq=2,
                   missing_from=4)]
    live = {"spec": {"components": {"trustyai": {"managementState": "Managed", "eval": {
        "lmeval": {"permitOnline": "allow", "permitCodeExecution": "allow"}}}}}}
    assert restore_patch(live, group) == {"spec": {"components": {"trustyai": {"managementState": "Removed",
                                                                               "eval": None}}}}
    live["spec"]["components"]["trustyai"]["eval"]["other"] = {"x": 1}
    assert restore_patch(live, group)["spec"]["components"]["trustyai"]["eval"] == {"lmeval": None}


def test_records_written_before_v2_restore_the_recorded_ancestor() -> None:
    old = Entry.from_json('{"apiVersion": "v1", "kind": "ConfigMap", "plural": "configmaps", "name": "c", '
                          '"namespace": "ns", "path": ["metadata", "annotations"], "present": false, '
                          '"value": null, "seq": 0}')
    assert restore_patch({"metadata": {"annotations": {"a": "b"}}}, [old]) == {"metadata": {"annotations": None}}


def test_restore_order_puts_deployment_last_and_reverses_recording() -> None:
    dsc = ObjectRef("datasciencecluster.opendatahub.io/v1", "DataScienceCluster", plural="datascienceclusters",
                    name="d")
    cm = ObjectRef("v1", "ConfigMap", plural="configmaps", name="c", namespace="ns")
    dep = ObjectRef("apps/v1", "Deployment", plural="deployments", name="x", namespace="ns")
    entries = [Entry(dsc, ("a",), present=True, value=1, seq=0), Entry(cm, ("b",), present=True, value=2, seq=1),
               Entry(dep, ("c",), present=False, value=None, seq=2)]
    assert [g[0].ref.kind for g in _restore_groups(entries)] == ["ConfigMap", "DataScienceCluster", "Deployment"]
    assert entry_key(cm, ("metadata", "annotations", "opendatahub.io/managed")).endswith("opendatahub.io_managed")
    assert Entry(dep, ("c",), present=False, value=None, seq=2).inverse_patch() == {"c": None}


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


def test_revert_preflight_asks_for_every_recorded_object() -> None:
    """Revert had no preflight: with partial rights it restored the ConfigMap, then failed on the DSC."""
    from lmeval_setup.bootstrap.revert import RevertStore
    from lmeval_setup.kube.access import Access

    dsc = ObjectRef("datasciencecluster.opendatahub.io/v1", "DataScienceCluster", plural="datascienceclusters",
                    name="d")
    entries = [Entry(dsc, ("spec", "x"), present=True, value="Removed", seq=0),
               Entry(CM_REF, ANNOTATION, present=False, value=None, seq=1, missing_from=2)]

    class Record:
        def get_or_none(self, path: str) -> dict[str, object]:
            return {"data": {e.key: e.to_json() for e in entries}}

    access = RevertStore(Record(), "apps").required_access()  # type: ignore[arg-type]
    assert Access("patch", "datasciencecluster.opendatahub.io", resource="datascienceclusters", namespace=None,
                  name="d") in access
    assert Access("patch", "", resource="configmaps", namespace="ns", name="c") in access
    assert Access("delete", "", resource="configmaps", namespace="apps", name="lmeval-setup-revert") in access
