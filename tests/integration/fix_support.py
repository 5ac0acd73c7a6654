"""The five-seed fix flow of `make demo` (issue 19), shared by the modules that already have a broken-jobs sandbox.

test_doctor_scenarios builds the broken-jobs sandbox of every profile to check that each seed mistake is
reported; the fix flow runs on that same sandbox (`five_seeds_fixed_with_one_command`) instead of a sandbox of
its own per profile, which would cost a control plane and a seed run each. test_doctor_fix uses the helpers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import lost_poll
from click.testing import CliRunner
from lost_poll import OperatorLog
from schemasupport import validate

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

READER = "fix-reader"
DEMO_PROFILE = "rhoai-2.22"  # make demo's line: the dry run, the read-only identity and --replace are checked here


def jobs_path(ns: str) -> str:
    return resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)


def doctor(*args: str) -> Any:
    from lmeval_setup.cli.doctor import doctor as command

    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def stall_report(sb: Any, ns: str) -> str:
    """Why a fix's jobs may not have completed, from what only the sandbox holds in memory: each job's state (no
    status at all: the manager never reconciled it), the kubelet's newest execs into the namespace's pods (a
    controller's --get-status / --shutdown; one that hangs blocks the manager's only reconcile worker), and the
    manager's last error lines."""
    kubelet = sb.simulator("kubelet").instance
    now = time.time()
    jobs = [f"{j['metadata']['name']}: {(j.get('status') or {}).get('state') or 'no status'}"
            for j in sb.kube.list_items(jobs_path(ns))]
    execs = [f"{now - at:.0f}s ago {name} {' '.join(command)[-60:]} -> {status}"
             for at, namespace, name, _, command, status in list(kubelet.execs)[-10:] if namespace == ns]
    errors = []
    for pod in sb.kube.list_items(resource_path("", "v1", "pods", sb.namespace)):
        if str(pod["metadata"].get("generateName", "")).startswith(f"{R.OPERATOR_DEPLOYMENT}-"):
            lines = kubelet.logs.lines(pod["metadata"]["uid"], R.OPERATOR_CONTAINER) or []
            errors += [text for _, text in lines if '"level":"error"' in text or "\tERROR\t" in text][-10:]
    return f"jobs: {jobs}; newest execs: {execs}; the manager's errors: {errors}"


def versions(kube: Kube, paths: list[str]) -> dict[str, str]:
    out = {}
    for path in paths:
        for item in kube.list_items(path):
            meta = item["metadata"]
            out[f"{path}/{meta['name']}"] = meta["resourceVersion"]
    return out


def settled_versions(kube: Kube, paths: list[str], quiet: float = 3.0, timeout: float = 90.0) -> dict[str, str]:
    """The resourceVersions once nobody has written for `quiet` seconds. The real controller (3.5) still
    writes a job once or twice after it reports Complete (the pod's shutdown and clean-up), so "all
    Complete" is not yet "settled": a snapshot taken then would blame the doctor for the operator's write."""
    deadline = time.monotonic() + timeout
    last = versions(kube, paths)
    while True:
        time.sleep(quiet)
        now = versions(kube, paths)
        if now == last:
            return now
        assert time.monotonic() < deadline, "the cluster kept writing the watched objects"
        last = now


def wait_all_complete(kube: Kube, ns: str, operator_namespace: str, timeout: float = 300.0) -> None:
    """Until every job in `ns` is Complete; a job upstream's lost status poll strands is touched, the manager's
    log read as `doctor --fix --wait` reads it (lost_poll.py)."""
    lost_poll.wait_all_complete(kube, ns, OperatorLog(kube, operator_namespace), timeout=timeout)


def grant_read_only(kube: Kube, user: str) -> None:
    """A ClusterRole and binding letting `user` get, list and watch everything and write nothing (idempotent)."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": user},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]}
    for path, body in (("/apis/rbac.authorization.k8s.io/v1/clusterroles", role),
                       ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)):
        if kube.get_or_none(f"{path}/{user}") is None:
            kube.create(path, body)


def reader_kubeconfig(plane: Any, kube: Kube) -> str:
    """A kubeconfig of an identity that may get, list and watch everything and write nothing."""
    grant_read_only(kube, READER)
    return str(plane.kubeconfig_for(READER))


def value_at(spec: dict[str, Any], path: str) -> Any:
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


def assert_values_and_provenance(kube: Kube, ns: str, document: dict[str, Any]) -> None:
    """Every value the plan says it set is on the live corrected job, as sent (the line's CRD neither refused
    nor pruned it); each seed mistake's value is the right one, from the right source; and the corrected job
    ran to success, every original finding fixed."""
    from lmeval_setup.sandbox import jobs as J

    by_name = {job["name"]: job for job in document["jobs"]}
    for seed in J.SEED_JOBS:
        if seed.should_succeed:
            assert seed.name not in by_name  # a clean job is left alone
            continue
        planned = by_name[seed.name]
        live = kube.get(f"{jobs_path(ns)}/{planned['fixedBy']}")
        assert planned["outcome"] == "Succeeded" and live["status"]["reason"] == "Succeeded", seed.name
        assert {"rule": seed.expected_rule, "verdict": "fixed"} in planned["verdicts"], planned["verdicts"]
        values = [v for step in planned["steps"] for v in step["values"]]
        for value in values:
            assert value["source"], value
            assert value_at(live["spec"], value["path"]) == value["value"], (seed.name, value)
        path, want, source = EXPECTED_VALUES[str(seed.expected_rule)]
        want = {"{completions}": J.COMPLETIONS_URL, "{tokenizer}": J.HF_TOKENIZER}.get(str(want), want)
        (step,) = [s for s in planned["steps"] if s["rule"] == seed.expected_rule]
        assert any(v["path"] == path and v["value"] == want and source in v["source"] for v in step["values"]), step


def five_seeds_fixed_with_one_command(sb: Any) -> dict[str, Any]:
    """The flow of `make demo`: 5/5 seed mistakes Failed (the good job Succeeded), ONE
    `doctor --fix --yes --wait`, 5/5 corrected jobs Succeeded with the plan's values and provenance, each
    labelled with the job it fixes, and nothing left for a second doctor on them; the tokenizer lookup asked
    the sandbox's `granite` for its /v1/models through its predictor Service. Returns the fix document."""
    from lost_results import with_results

    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.fix.engine import FIX_LABEL
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.predictor import host_address

    ns = J.DEMO_NAMESPACE
    wait_all_complete(sb.kube, ns, sb.namespace)
    for seed in J.SEED_JOBS:  # a good job the driver's race left without results is re-run (LME041's fix)
        if seed.should_succeed:
            with_results(sb.kube, sb.kube.get(f"{jobs_path(ns)}/{seed.name}"))
    seeds = {j["metadata"]["name"]: j for j in sb.kube.list_items(jobs_path(ns))}
    states = {name: j["status"]["reason"] for name, j in seeds.items()}
    assert states == {s.name: "Succeeded" if s.should_succeed else "Failed" for s in J.SEED_JOBS}, states
    assert all('"results"' in seeds[s.name]["status"]["results"] for s in J.SEED_JOBS if s.should_succeed)
    isvc = sb.kube.get(resource_path("serving.kserve.io", "v1beta1", "inferenceservices", ns, J.SERVED_MODEL))
    assert isvc["status"]["url"] == J.ENDPOINT

    applied = doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "--yes", "--wait", "--wait-timeout", "400",
                     "-o", "json")
    assert applied.exit_code == 0, applied.output
    document = json.loads(applied.stdout)
    validate(document, "fix-plan")
    assert document["dryRun"] is False and document["cluster"]["bootstrap"] is False  # the cluster permits it
    assert_values_and_provenance(sb.kube, ns, document)
    if host_address() is not None:  # LME004's lookup reached the sandbox's own model through KServe's Service
        controller = sb.simulator("kserve-controller").instance
        (granite,) = [p for p in controller.predictors.values() if p.isvc == J.SERVED_MODEL]
        assert ("GET", "/v1/models") in granite.server.requests_seen
    for seed in J.SEED_JOBS:
        if not seed.should_succeed:
            assert sb.kube.get(f"{jobs_path(ns)}/{seed.name}-fix")["metadata"]["labels"][FIX_LABEL] == seed.name

    result = evaluate(collect(sb.kube, Scope(namespace=ns)))
    assert [(f.target.name, f.rule_id) for f in result.findings if f.target.name.endswith("-fix")] == []
    return dict(document)


def dry_run_and_read_only_write_nothing(plane: Any, sb: Any) -> None:
    """`--fix` without `--yes` and `--fix --yes` as a read-only identity (rc 4, the plan still shown) leave
    every watched object at its resourceVersion."""
    from lmeval_setup.sandbox import jobs as J

    ns = J.DEMO_NAMESPACE
    watched = [jobs_path(ns), resource_path("", "v1", "configmaps", sb.namespace),
               resource_path("apps", "v1", "deployments", sb.namespace)]
    before = settled_versions(sb.kube, watched)
    dsc_before = sb.dsc()["metadata"]["resourceVersion"]
    dry = doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "+    value: http://" in dry.output  # the diff of the base_url fix
    plan = json.loads(doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "-o", "json").stdout)
    validate(plan, "fix-plan")
    assert plan["dryRun"] is True and {j["name"] for j in plan["jobs"]} == {
        s.name for s in J.SEED_JOBS if not s.should_succeed}
    readonly = doctor("--kubeconfig", reader_kubeconfig(plane, sb.kube), "-n", ns, "--fix", "--yes")
    assert readonly.exit_code == 4, readonly.output
    assert "not permitted to apply the fix: missing create lmevaljobs" in readonly.output
    assert "-> eval-base-url-no-completions-fix" in readonly.output  # the plan is still shown
    # neither wrote anything: the same objects at the same resourceVersions
    assert versions(sb.kube, watched) == before
    assert sb.dsc()["metadata"]["resourceVersion"] == dsc_before


def second_fix_is_a_no_op(sb: Any) -> None:
    from lmeval_setup.sandbox import jobs as J

    ns = J.DEMO_NAMESPACE
    names = {j["metadata"]["name"] for j in sb.kube.list_items(jobs_path(ns))}
    again = doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--fix", "--yes")
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output
    assert {j["metadata"]["name"] for j in sb.kube.list_items(jobs_path(ns))} == names


def replace_in_place(sb: Any) -> None:
    """--replace: the broken job is deleted and recreated corrected under its own name (uid changes)."""
    from lmeval_setup.fix.engine import FIX_LABEL
    from lmeval_setup.sandbox import jobs as J

    ns, kube = J.DEMO_NAMESPACE, sb.kube
    broken = J.seed_job("eval-base-url-no-completions").for_namespace(ns)
    broken["metadata"]["name"] = "eval-replace-me"
    created = kube.create(jobs_path(ns), broken)
    result = doctor("--kubeconfig", sb.kubeconfig, "-n", ns, "--job", "eval-replace-me", "--fix", "--yes",
                    "--replace", "--wait", "--wait-timeout", "400", "-o", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    validate(document, "fix-plan")
    (job,) = document["jobs"]
    assert job["fixedBy"] == "eval-replace-me" and job["outcome"] == "Succeeded"
    assert {"rule": "LME002", "verdict": "fixed"} in job["verdicts"]
    live = kube.get(f"{jobs_path(ns)}/eval-replace-me")
    assert live["metadata"]["uid"] != created["metadata"]["uid"]
    assert live["metadata"]["labels"][FIX_LABEL] == "eval-replace-me"
    assert not kube.get_or_none(f"{jobs_path(ns)}/eval-replace-me-fix")
