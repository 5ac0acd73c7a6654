"""doctor --fix on the sandbox's broken-jobs scenario (issue 19 item 3), against a real apiserver.

Per profile: the dry run writes nothing (every resourceVersion unchanged, no job created); a read-only
identity gets the plan and exit 4; `--fix --yes --wait` turns each seed mistake into a job that completes
and says so per finding; a second doctor reports nothing for the corrected jobs; a second --fix is a no-op.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner
from schemasupport import validate

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = [pytest.mark.controlplane]

READER = "fix-reader"


def _jobs_path(ns: str) -> str:
    return resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)


def _versions(kube: Kube, paths: list[str]) -> dict[str, str]:
    out = {}
    for path in paths:
        for item in kube.list_items(path):
            meta = item["metadata"]
            out[f"{path}/{meta['name']}"] = meta["resourceVersion"]
    return out


def _settled_versions(kube: Kube, paths: list[str], quiet: float = 3.0, timeout: float = 90.0) -> dict[str, str]:
    """The resourceVersions once nobody has written for `quiet` seconds. The real controller (3.5) still
    writes a job once or twice after it reports Complete (the pod's shutdown and clean-up), so "all
    Complete" is not yet "settled": a snapshot taken then would blame the doctor for the operator's write."""
    deadline = time.monotonic() + timeout
    last = _versions(kube, paths)
    while True:
        time.sleep(quiet)
        now = _versions(kube, paths)
        if now == last:
            return now
        assert time.monotonic() < deadline, "the cluster kept writing the watched objects"
        last = now


def _wait_all_complete(kube: Kube, ns: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        jobs = list(kube.list_items(_jobs_path(ns)))
        if jobs and all((j.get("status") or {}).get("state") == "Complete" for j in jobs):
            return
        assert time.monotonic() < deadline, [(j["metadata"]["name"], j.get("status", {}).get("state")) for j in jobs]
        time.sleep(1.0)


def _reader(plane: Any, kube: Kube) -> str:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": READER},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": READER},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": READER},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": READER}]}
    kube.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
    kube.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
    return str(plane.kubeconfig_for(READER))


def _doctor(*args: str) -> Any:
    from lmeval_setup.cli.doctor import doctor

    return CliRunner().invoke(doctor, list(args), catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["rhoai-2.22", "rhoai-3.5"])
def test_doctor_fix_turns_each_seed_mistake_into_a_completed_job(new_controlplane: Any, profile: str) -> None:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.fix.engine import FIX_LABEL
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.harness import running_sandbox

    ns = J.DEMO_NAMESPACE
    with running_sandbox(new_controlplane, profile, "broken-jobs") as sb:
        kubeconfig = sb.kubeconfig
        _wait_all_complete(sb.kube, ns)
        watched = [_jobs_path(ns), resource_path("", "v1", "configmaps", sb.namespace),
                   resource_path("apps", "v1", "deployments", sb.namespace)]
        before = _settled_versions(sb.kube, watched)
        dsc_before = sb.dsc()["metadata"]["resourceVersion"]

        dry = _doctor("--kubeconfig", kubeconfig, "-n", ns, "--fix")
        assert dry.exit_code == 0, dry.output
        assert "dry run" in dry.output and "+    value: http://" in dry.output  # the diff of the base_url fix
        dry_json = _doctor("--kubeconfig", kubeconfig, "-n", ns, "--fix", "-o", "json")
        plan = json.loads(dry_json.stdout)
        validate(plan, "fix-plan")
        assert plan["dryRun"] is True and {j["name"] for j in plan["jobs"]} == {
            s.name for s in J.SEED_JOBS if not s.should_succeed}
        readonly = _doctor("--kubeconfig", _reader(new_controlplane, sb.kube), "-n", ns, "--fix", "--yes")
        assert readonly.exit_code == 4, readonly.output
        assert "not permitted to apply the fix: missing create lmevaljobs" in readonly.output
        assert "-> eval-base-url-no-completions-fix" in readonly.output  # the plan is still shown
        # neither wrote anything: the same objects at the same resourceVersions
        assert _versions(sb.kube, watched) == before
        assert sb.dsc()["metadata"]["resourceVersion"] == dsc_before

        applied = _doctor("--kubeconfig", kubeconfig, "-n", ns, "--fix", "--yes", "--wait", "--wait-timeout", "400")
        assert applied.exit_code == 0, applied.output
        for seed in J.SEED_JOBS:
            if seed.should_succeed:
                assert f"{seed.name}-fix" not in applied.output  # a clean job is left alone
                continue
            fixed = sb.kube.get(f"{_jobs_path(ns)}/{seed.name}-fix")
            assert fixed["metadata"]["labels"][FIX_LABEL] == seed.name
            assert fixed["status"]["state"] == "Complete" and fixed["status"]["reason"] == "Succeeded", seed.name
            assert f"    {seed.expected_rule}: fixed" in applied.output, seed.name

        result = evaluate(collect(sb.kube, Scope(namespace=ns)))
        on_fixes = [(f.target.name, f.rule_id) for f in result.findings if f.target.name.endswith("-fix")]
        assert on_fixes == []
        names = {j["metadata"]["name"] for j in sb.kube.list_items(_jobs_path(ns))}
        again = _doctor("--kubeconfig", kubeconfig, "-n", ns, "--fix", "--yes")
        assert again.exit_code == 0, again.output
        assert "already exists" in again.output
        assert {j["metadata"]["name"] for j in sb.kube.list_items(_jobs_path(ns))} == names
        if profile == "rhoai-2.22":
            _replace_in_place(sb.kube, kubeconfig, ns)


def _replace_in_place(kube: Kube, kubeconfig: str, ns: str) -> None:
    """--replace: the broken job is deleted and recreated corrected under its own name (uid changes)."""
    from lmeval_setup.fix.engine import FIX_LABEL
    from lmeval_setup.sandbox import jobs as J

    broken = J.seed_job("eval-base-url-no-completions").for_namespace(ns)
    broken["metadata"]["name"] = "eval-replace-me"
    created = kube.create(_jobs_path(ns), broken)
    result = _doctor("--kubeconfig", kubeconfig, "-n", ns, "--job", "eval-replace-me", "--fix", "--yes",
                     "--replace", "--wait", "--wait-timeout", "400", "-o", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    validate(document, "fix-plan")
    (job,) = document["jobs"]
    assert job["fixedBy"] == "eval-replace-me" and job["outcome"] == "Succeeded"
    assert {"rule": "LME002", "verdict": "fixed"} in job["verdicts"]
    live = kube.get(f"{_jobs_path(ns)}/eval-replace-me")
    assert live["metadata"]["uid"] != created["metadata"]["uid"]
    assert live["metadata"]["labels"][FIX_LABEL] == "eval-replace-me"
    assert not kube.get_or_none(f"{_jobs_path(ns)}/eval-replace-me-fix")


@pytest.mark.slow
def test_online_refused_by_the_cluster_is_fixed_by_bootstrap_then_the_jobs(new_controlplane: Any) -> None:
    """rhoai-2.25 with the DSC denying online access: LME001 (job) and LME102 (cluster refuses what jobs ask)
    become one bootstrap --allow-online, then every failed job runs again (patched or as it was) and completes."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.harness import running_sandbox

    ns = J.DEMO_NAMESPACE
    with running_sandbox(new_controlplane, "rhoai-2.25", "broken-jobs") as sb:
        dsc_path = P.dsc_path(sb.release, P.DSC_NAME)
        sb.kube.merge_patch(dsc_path, {"spec": {"components": {"trustyai": {"eval": {"lmeval": {
            "permitOnline": "deny"}}}}}})
        dsc_config = resource_path("", "v1", "configmaps", sb.namespace, R.DSC_CONFIGMAP)
        sb.wait_for(lambda: (sb.kube.get(dsc_config).get("data") or {}).get(R.DSC_CM_ONLINE) == "false",
                    "the platform to render permitOnline: deny", timeout=60)
        # the platform's status write for this generation has landed: from here only a fix would write
        sb.wait_for(lambda: (sb.dsc().get("status") or {}).get("observedGeneration")
                    == sb.dsc()["metadata"]["generation"], "the platform to reconcile the DSC", timeout=60)
        dsc_before = sb.dsc()["metadata"]["resourceVersion"]
        denied = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "-o", "json")
        assert sb.dsc()["metadata"]["resourceVersion"] == dsc_before  # the plan wrote nothing
        plan = json.loads(denied.stdout)
        validate(plan, "fix-plan")
        assert plan["cluster"]["bootstrap"] and plan["cluster"]["bootstrapFlags"] == ["--allow-online"]
        assert "eval-good" in {j["name"] for j in plan["jobs"]}  # LME102: re-run once the cluster permits it
        applied = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "--yes", "--wait", "--wait-timeout", "400")
        assert applied.exit_code == 0, applied.output
        lmeval = sb.dsc()["spec"]["components"]["trustyai"]["eval"]["lmeval"]
        assert lmeval["permitOnline"] == "allow"
        # through bootstrap's own path: it recorded the prior value, so `revert` can undo the cluster fix
        assert sb.kube.get_or_none(resource_path("", "v1", "configmaps", sb.namespace, "lmeval-setup-revert"))
        for seed in J.SEED_JOBS:
            fixed = sb.kube.get(f"{_jobs_path(ns)}/{seed.name}-fix")
            assert fixed["status"]["reason"] == "Succeeded", seed.name
        result = evaluate(collect(sb.kube, Scope(namespace=ns)))
        assert [(f.target.name, f.rule_id) for f in result.findings if f.target.name.endswith("-fix")] == []
