"""doctor --fix on the sandbox of every release line (issue 19), against a real apiserver.

One control plane and one sandbox per profile, shared by the module's tests of that profile (a
module-scoped, parametrized fixture: pytest runs a profile's tests together, then stops its plane).
- The seed's five mistakes become five completed jobs with ONE `doctor --fix --yes --wait` (what `make demo`
  shows), every filled-in value on the live corrected job as the fix plan says, with the plan's provenance;
  a second doctor reports nothing for the corrected jobs. On the broken-jobs sandbox of rhoai-2.22 (the
  demo's line, where also: the dry run and a read-only identity write nothing, every resourceVersion
  unchanged; a second --fix is a no-op; --replace recreates a job under its name) and rhoai-3.5 (DSC v2,
  the real operator's 3.5 behaviour).
- On every line: LME001 on a cluster that refuses online access is fixed through the line's own bootstrap,
  the operator ConfigMap + a restart on 2.16-2.24, the DSC fields (no restart, ConfigMap untouched) on
  2.25+ and Open Data Hub; the fix grants online access only (code execution stays denied). The lines
  without the seed flow start `bootstrapped` (no seed jobs to wait for): their job-level fixes are the same.
- LME004 from the served model's /v1/models root, live through the apiserver's service proxy (2.22).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from schemasupport import validate
from testsupport import require_controlplane_binaries

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = [pytest.mark.controlplane]

READER = "fix-reader"
# One per release line whose fixes differ: ConfigMap lines (2.16 without the managed annotation, 2.17-2.24
# with it), the DSC eval fields on v1 (2.25) and v2 (3.x), and Open Data Hub (another namespace).
PROFILES = ("rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.5", "odh-2.35")
DEMO_PROFILE = "rhoai-2.22"
# The profiles whose sandbox runs the broken-jobs seed (the others start bootstrapped, which is cheaper).
SEEDED = ("rhoai-2.22", "rhoai-3.5")


@pytest.fixture(scope="module", params=PROFILES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(control plane, Sandbox) of one profile: in the broken-jobs scenario with its seed jobs all Complete
    for the SEEDED profiles, else bootstrapped."""
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox

    scenario = "broken-jobs" if request.param in SEEDED else "bootstrapped"
    plane = ControlPlane(tmp_path_factory.mktemp(f"fix-{request.param}"), require_controlplane_binaries())
    plane.start()
    try:
        with running_sandbox(plane, request.param, scenario) as sb:
            if scenario == "broken-jobs":
                _wait_all_complete(sb.kube, J.DEMO_NAMESPACE)
            yield plane, sb
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


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


def _at(spec: dict[str, Any], path: str) -> Any:
    """The value at a fix plan's path ("spec.modelArgs[base_url]", "spec.allowOnline") in a live spec."""
    node: Any = {"spec": spec}
    for part in path.split("."):
        name, _, arg = part.partition("[")
        node = node[name]
        if arg:
            node = next(item.get("value") for item in node if item.get("name") == arg.rstrip("]"))
    return node


# Per seed mistake: the value its fix must fill in, and what its provenance must name.
EXPECTED_VALUES = {
    "LME001": ("spec.allowOnline", True, "LME001 fix (rule catalog)"),
    "LME002": ("spec.modelArgs[base_url]", "{completions}", "local-completions posts to /v1/completions"),
    "LME003": ("spec.model", "local-completions", "LME003 fix (rule catalog)"),
    "LME004": ("spec.modelArgs[tokenizer]", "{tokenizer}", "InferenceService granite spec.predictor.model.storageUri"),
    "LME005": ("spec.model", "local-completions", "LME005 fix (rule catalog)"),
}


def _assert_values_and_provenance(kube: Kube, ns: str, document: dict[str, Any]) -> None:
    """Every value the plan says it set is on the live corrected job; each seed mistake's value is the right
    one, from the right source; and the corrected job ran to success, every original finding fixed."""
    from lmeval_setup.sandbox import jobs as J

    by_name = {job["name"]: job for job in document["jobs"]}
    for seed in J.SEED_JOBS:
        if seed.should_succeed:
            assert seed.name not in by_name  # a clean job is left alone
            continue
        planned = by_name[seed.name]
        live = kube.get(f"{_jobs_path(ns)}/{planned['fixedBy']}")
        assert planned["outcome"] == "Succeeded" and live["status"]["reason"] == "Succeeded", seed.name
        assert {"rule": seed.expected_rule, "verdict": "fixed"} in planned["verdicts"], planned["verdicts"]
        values = [v for step in planned["steps"] for v in step["values"]]
        for value in values:
            assert value["source"], value
            assert _at(live["spec"], value["path"]) == value["value"], (seed.name, value)
        path, want, source = EXPECTED_VALUES[str(seed.expected_rule)]
        want = {"{completions}": J.COMPLETIONS_URL, "{tokenizer}": J.HF_TOKENIZER}.get(str(want), want)
        (step,) = [s for s in planned["steps"] if s["rule"] == seed.expected_rule]
        assert any(v["path"] == path and v["value"] == want and source in v["source"] for v in step["values"]), step


@pytest.mark.parametrize("seeded", SEEDED, indirect=True)
def test_the_seed_mistakes_become_completed_jobs_with_one_fix_command(seeded: tuple[Any, Any]) -> None:
    """The flow of `make demo` on every profile: 5/5 seed jobs failed, ONE `doctor --fix --yes --wait`,
    5/5 corrected jobs succeeded with the plan's values and provenance, nothing left for the doctor."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.fix.engine import FIX_LABEL
    from lmeval_setup.sandbox import jobs as J

    plane, sb = seeded
    ns = J.DEMO_NAMESPACE
    states = {j["metadata"]["name"]: j["status"]["reason"] for j in sb.kube.list_items(_jobs_path(ns))}
    assert states == {s.name: "Succeeded" if s.should_succeed else "Failed" for s in J.SEED_JOBS}
    if sb.profile.name == DEMO_PROFILE:
        _dry_run_and_read_only_write_nothing(plane, sb, ns)

    applied = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "--yes", "--wait", "--wait-timeout", "400",
                      "-o", "json")
    assert applied.exit_code == 0, applied.output
    document = json.loads(applied.stdout)
    validate(document, "fix-plan")
    assert document["dryRun"] is False and document["cluster"]["bootstrap"] is False  # the cluster permits it
    _assert_values_and_provenance(sb.kube, ns, document)
    for seed in J.SEED_JOBS:
        if not seed.should_succeed:
            assert sb.kube.get(f"{_jobs_path(ns)}/{seed.name}-fix")["metadata"]["labels"][FIX_LABEL] == seed.name

    result = evaluate(collect(sb.kube, Scope(namespace=ns)))
    assert [(f.target.name, f.rule_id) for f in result.findings if f.target.name.endswith("-fix")] == []
    if sb.profile.name == DEMO_PROFILE:
        names = {j["metadata"]["name"] for j in sb.kube.list_items(_jobs_path(ns))}
        again = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "--yes")
        assert again.exit_code == 0, again.output
        assert "already exists" in again.output
        assert {j["metadata"]["name"] for j in sb.kube.list_items(_jobs_path(ns))} == names
        _replace_in_place(sb.kube, sb.kubeconfig, ns)


def _dry_run_and_read_only_write_nothing(plane: Any, sb: Any, ns: str) -> None:
    from lmeval_setup.sandbox import jobs as J

    watched = [_jobs_path(ns), resource_path("", "v1", "configmaps", sb.namespace),
               resource_path("apps", "v1", "deployments", sb.namespace)]
    before = _settled_versions(sb.kube, watched)
    dsc_before = sb.dsc()["metadata"]["resourceVersion"]
    dry = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "+    value: http://" in dry.output  # the diff of the base_url fix
    plan = json.loads(_doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "-o", "json").stdout)
    validate(plan, "fix-plan")
    assert plan["dryRun"] is True and {j["name"] for j in plan["jobs"]} == {
        s.name for s in J.SEED_JOBS if not s.should_succeed}
    readonly = _doctor("--kubeconfig", _reader(plane, sb.kube), "-n", ns, "--fix", "--yes")
    assert readonly.exit_code == 4, readonly.output
    assert "not permitted to apply the fix: missing create lmevaljobs" in readonly.output
    assert "-> eval-base-url-no-completions-fix" in readonly.output  # the plan is still shown
    # neither wrote anything: the same objects at the same resourceVersions
    assert _versions(sb.kube, watched) == before
    assert sb.dsc()["metadata"]["resourceVersion"] == dsc_before


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


# -- LME001 on a cluster that refuses online access: the line's own cluster-level fix ---------------------
def _operator_path(sb: Any) -> str:
    return resource_path("apps", "v1", "deployments", sb.namespace, R.OPERATOR_DEPLOYMENT)


def _configmap(sb: Any, name: str) -> dict[str, Any]:
    return sb.kube.get(resource_path("", "v1", "configmaps", sb.namespace, name))


def _deny_online_and_code_execution(sb: Any) -> None:
    """The cluster as a least-privilege admin leaves it: nothing permitted, the way this release reads it."""
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox import scenarios as S

    if sb.release.has_dsc_eval_fields:
        sb.kube.merge_patch(P.dsc_path(sb.release, P.DSC_NAME), {"spec": {"components": {"trustyai": {"eval": {
            "lmeval": {"permitOnline": "deny", "permitCodeExecution": "deny"}}}}}})
        sb.wait_for(lambda: (_configmap(sb, R.DSC_CONFIGMAP).get("data") or {}).get(R.DSC_CM_ONLINE) == "false",
                    "the platform to render permitOnline: deny", timeout=60)
        # the platform's status write for this generation has landed: from here only a fix would write
        sb.wait_for(lambda: (sb.dsc().get("status") or {}).get("observedGeneration")
                    == sb.dsc()["metadata"]["generation"], "the platform to reconcile the DSC", timeout=60)
        return
    sb.kube.merge_patch(S.operator_configmap_path(sb.profile), {"data": {
        R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"}})
    S.rollout_restart(sb.kube, sb.profile)  # read at operator start: the running pod must load it
    generation = sb.kube.get(_operator_path(sb))["metadata"]["generation"]
    sb.wait_for(lambda: sb.kube.get(_operator_path(sb))["metadata"]["generation"] == generation
                and S.operator_available(sb.kube, sb.profile), "the operator to restart", timeout=120)


def test_offline_job_on_a_refusing_cluster_is_fixed_through_the_lines_bootstrap(seeded: tuple[Any, Any]) -> None:
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import scenarios as S

    _, sb = seeded
    ns = J.DEMO_NAMESPACE
    _deny_online_and_code_execution(sb)
    S.serve_model(sb.kube, ns)  # a bootstrapped sandbox has no seed namespace and model yet
    job = copy.deepcopy(J.seed_job("eval-no-online-access").for_namespace(ns))
    job["metadata"]["name"] = "eval-offline-again"
    sb.kube.create(_jobs_path(ns), job)
    cm_before = _configmap(sb, R.OPERATOR_CONFIGMAP)
    operator_before = sb.kube.get(_operator_path(sb))
    dsc_before = sb.dsc()["metadata"]["resourceVersion"]

    plan = json.loads(_doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--job", "eval-offline-again",
                              "--fix", "-o", "json").stdout)
    validate(plan, "fix-plan")
    # online access only: code execution, which no finding asks for, is pinned to the cluster's "deny"
    assert plan["cluster"]["bootstrap"] is True, plan
    assert plan["cluster"]["bootstrapFlags"] == ["--allow-online", "--deny-code-execution"], plan["cluster"]
    assert "LME001" in plan["cluster"]["rules"]
    assert sb.dsc()["metadata"]["resourceVersion"] == dsc_before  # the plan wrote nothing
    assert _configmap(sb, R.OPERATOR_CONFIGMAP)["metadata"]["resourceVersion"] == cm_before["metadata"][
        "resourceVersion"]

    applied = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--job", "eval-offline-again", "--fix", "--yes",
                      "--wait", "--wait-timeout", "400", "-o", "json")
    assert applied.exit_code == 0, applied.output
    (fixed,) = json.loads(applied.stdout)["jobs"]
    assert fixed["outcome"] == "Succeeded" and {"rule": "LME001", "verdict": "fixed"} in fixed["verdicts"]
    # through bootstrap's own path: it recorded the prior values, so `revert` can undo the cluster fix
    assert sb.kube.get_or_none(resource_path("", "v1", "configmaps", sb.namespace, "lmeval-setup-revert"))
    operator_after = sb.kube.get(_operator_path(sb))
    cm_after = _configmap(sb, R.OPERATOR_CONFIGMAP)
    if sb.release.has_dsc_eval_fields:  # per job from the DSC: the ConfigMap untouched, nothing restarted
        lmeval = sb.dsc()["spec"]["components"]["trustyai"]["eval"]["lmeval"]
        assert (lmeval["permitOnline"], lmeval["permitCodeExecution"]) == ("allow", "deny")
        assert cm_after["metadata"]["resourceVersion"] == cm_before["metadata"]["resourceVersion"]
        assert operator_after["spec"]["template"] == operator_before["spec"]["template"]
    else:  # read at operator start: the ConfigMap, then a restart (a new pod template)
        assert (cm_after["data"][R.CM_ALLOW_ONLINE], cm_after["data"][R.CM_ALLOW_CODE]) == ("true", "false")
        assert operator_after["spec"]["template"] != operator_before["spec"]["template"]
        if sb.release.honours_managed_annotation:
            assert cm_after["metadata"]["annotations"][R.MANAGED_ANNOTATION] == "false"


# -- LME004 from the served model's /v1/models root, through the apiserver's service proxy -----------------
HUB_ROOT = "ibm-granite/granite-3.3-2b-instruct"  # named by nothing else in the cluster


@pytest.mark.parametrize("seeded", [DEMO_PROFILE], indirect=True)
def test_tokenizer_from_the_served_models_root_through_the_service_proxy(seeded: tuple[Any, Any]) -> None:
    """An InferenceService with no storageUri (vLLM pulled the model itself): only the predictor's
    GET /v1/models `root` names the repo. The stand-in serves it behind Service granite-hub-predictor, whose
    Endpoints (and the EndpointSlice mirrored from them) point at it; doctor --fix reads it through the
    apiserver's service proxy and fills the tokenizer with that provenance. Without the predictor the
    tokenizer is a manual step: the value came from the live endpoint and nowhere else."""
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import scenarios as S
    from lmeval_setup.sandbox.predictor import host_address, served_predictor

    if host_address() is None:
        pytest.skip("no non-loopback address on this machine: the apiserver proxies only to those")
    _, sb = seeded
    ns = J.DEMO_NAMESPACE
    isvc = S.inference_service(ns)
    isvc["metadata"]["name"] = "granite-hub"
    del isvc["spec"]["predictor"]["model"]["storageUri"]
    isvcs = resource_path("serving.kserve.io", "v1beta1", "inferenceservices", ns)
    sb.kube.create(isvcs, isvc)
    endpoint = f"http://granite-hub-predictor.{ns}.svc.cluster.local:8080"
    isvc = sb.kube.merge_patch(f"{isvcs}/granite-hub/status", {"status": {
        "url": endpoint, "conditions": [{"type": "Ready", "status": "True"}]}})
    job = J.lmevaljob("eval-hub-tokenizer", "local-completions",
                      {"model": "granite-hub", "base_url": f"{endpoint}/v1/completions", "tokenizer": "granite-hub",
                       "num_concurrent": "1", "max_retries": "3", "timeout": "300"}, allow_online=True, namespace=ns)
    sb.kube.create(_jobs_path(ns), job)

    def tokenizer_step() -> dict[str, Any]:
        result = _doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--job", "eval-hub-tokenizer", "--fix", "-o", "json")
        document = json.loads(result.stdout)
        validate(document, "fix-plan")
        (planned,) = document["jobs"]
        (step,) = [s for s in planned["steps"] if s["rule"] == "LME004"]
        return step

    with served_predictor(sb.kube, isvc, model=HUB_ROOT) as predictor:
        slices = resource_path("discovery.k8s.io", "v1", "endpointslices", ns)
        sb.wait_for(lambda: any(
            predictor.address in e["addresses"] for s in sb.kube.list_items(slices)
            if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") == predictor.service
            for e in s.get("endpoints") or []), "the EndpointSlice mirrored from the Endpoints", timeout=30)
        step = tokenizer_step()
        assert step["kind"] == "job-patch", step
        assert step["values"] == [{"path": "spec.modelArgs[tokenizer]", "value": HUB_ROOT,
                                   "source": "InferenceService granite-hub /v1/models root"}]
        assert ("GET", "/v1/models") in predictor.server.requests_seen  # it went through the proxy to the stand-in
    step = tokenizer_step()
    assert step["kind"] == "manual" and step["values"] == [], step
