"""provision / results / scaffold against a real kube-apiserver with the upstream LMEvalJob CRD.

No simulated operator here: the test plays the operator by writing `status` through the status
subresource, which is exactly what provision's watch reads. This proves the API-level guarantees
(idempotence by resourceVersion, replace on spec change, exact teardown, waiting, gates, timeouts,
results from status) independently of the sandbox; tests/integration/test_provision_sandbox.py runs
the whole flow against the simulated OpenShift AI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import require_controlplane_binaries

from lmeval_setup.cli.main import main
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform.lmevaljob import lmevaljob_path

pytestmark = pytest.mark.controlplane

URL = "http://granite-predictor.models.svc.cluster.local:8080/v1/completions"
TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"
CRD_NAME = "lmevaljobs.trustyai.opendatahub.io"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Any]:
    """An apiserver of this module's own, with the upstream LMEvalJob CRD established."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    cp = ControlPlane(tmp_path_factory.mktemp("provision-cp"))
    cp.start()
    try:
        kube = Kube.connect(str(cp.kubeconfig))
        crd = yaml.safe_load((fixtures_dir / "crds" / "trustyai" / "lmevaljobs.yaml").read_text())
        kube.create(resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions"), crd)
        _wait(lambda: kube.get_or_none("/apis/trustyai.opendatahub.io/v1alpha1") is not None, "CRD served")
        _wait(lambda: _can_list_jobs(kube), "LMEvalJob list")
        yield cp
    finally:
        cp.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


@pytest.fixture(scope="module")
def kube_(plane: Any) -> Kube:
    return Kube.connect(str(plane.kubeconfig))


def _can_list_jobs(kube: Kube) -> bool:
    try:
        kube.get(lmevaljob_path("default"))
        return True
    except Exception:
        return False


def _wait(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run_cli(capsys: pytest.CaptureFixture[str], plane: Any, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--kubeconfig", str(plane.kubeconfig)])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def provision_args(namespace: str, *extra: str, job: str = "lmeval-ci") -> list[str]:
    # No OpenShift AI on a bare apiserver: say what the cluster would permit.
    return ["provision", "-n", namespace, "--job-name", job, "--model", "granite", "--base-url", URL,
            "--tokenizer", TOKENIZER, "--tasks", "arc_easy,hellaswag", "--limit", "10",
            "--allow-online", "--no-allow-code-execution", *extra]


OBJECTS = (("", "v1", "serviceaccounts", "lmeval-ci-runner"), ("rbac.authorization.k8s.io", "v1", "roles",
           "lmeval-ci-runner"), ("rbac.authorization.k8s.io", "v1", "rolebindings", "lmeval-ci-runner"))


def versions(kube: Kube, namespace: str, job: str = "lmeval-ci") -> dict[str, str]:
    found = {"Namespace": kube.get(resource_path("", "v1", "namespaces", None, namespace))}
    for group, version, plural, name in OBJECTS:
        found[plural] = kube.get(resource_path(group, version, plural, namespace, name))
    found["LMEvalJob"] = kube.get(lmevaljob_path(namespace, job))
    return {k: v["metadata"]["resourceVersion"] for k, v in found.items()}


def results_json(arc: float, hella: float, model: str = "granite", seconds: float = 321.0) -> str:
    return json.dumps({
        "results": {
            "arc_easy": {"alias": "arc_easy", "acc,none": arc - 0.02, "acc_stderr,none": 0.01,
                         "acc_norm,none": arc, "acc_norm_stderr,none": 0.011},
            "hellaswag": {"alias": "hellaswag", "acc,none": hella - 0.04, "acc_stderr,none": 0.005,
                          "acc_norm,none": hella, "acc_norm_stderr,none": 0.0045},
        },
        "config": {"model": "local-completions", "model_args": f"model={model},base_url={URL}"},
        "total_evaluation_time_seconds": str(seconds),
    })


def play_operator(kube: Kube, namespace: str, job: str, final: dict[str, Any], delay: float = 0.5) -> threading.Thread:
    """Like the TrustyAI operator: Scheduled, Running with progress bars, then `final`."""

    def run() -> None:
        path = lmevaljob_path(namespace, job)
        _wait(lambda: kube.get_or_none(path) is not None, "job created")
        for status in (
            {"state": "Scheduled", "reason": "NoReason", "podName": job},
            {"state": "Running", "reason": "NoReason", "message": "Requesting API", "progressBars": [
                {"message": "Requesting API", "percent": "40%", "count": "16/40", "elapsedTime": "00:02",
                 "remainingTimeEstimate": "00:03"}]},
            final,
        ):
            time.sleep(delay)
            kube.merge_patch(path + "/status", {"status": status})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


SUCCEEDED = {"state": "Complete", "reason": "Succeeded", "message": "job completed",
             "results": results_json(0.78, 0.74)}


# -- apply / idempotence / replace / teardown ---------------------------------------------------------------
def test_provision_creates_everything_and_a_second_run_changes_nothing(capsys, plane, kube_) -> None:
    code, _, err = run_cli(capsys, plane, *provision_args("prov-idem"))
    assert code == 0, err
    assert "LMEvalJob/lmeval-ci: created" in err and "Namespace/prov-idem: created" in err
    before = versions(kube_, "prov-idem")
    code, _, err = run_cli(capsys, plane, *provision_args("prov-idem"))
    assert code == 0, err
    assert err.count(": unchanged") == 5, err
    assert versions(kube_, "prov-idem") == before
    job = kube_.get(lmevaljob_path("prov-idem", "lmeval-ci"))
    assert job["spec"]["allowOnline"] is True and "OPENAI_API_KEY" not in json.dumps(job)


def test_changed_spec_replaces_only_the_job(capsys, plane, kube_) -> None:
    assert run_cli(capsys, plane, *provision_args("prov-replace"))[0] == 0
    before = versions(kube_, "prov-replace")
    uid = kube_.get(lmevaljob_path("prov-replace", "lmeval-ci"))["metadata"]["uid"]
    code, _, err = run_cli(capsys, plane, *provision_args("prov-replace", "--num-concurrent", "4"))
    assert code == 0, err
    assert "LMEvalJob/lmeval-ci: replaced" in err
    after = versions(kube_, "prov-replace")
    assert {k: v for k, v in after.items() if k != "LMEvalJob"} == {k: v for k, v in before.items() if k != "LMEvalJob"}
    job = kube_.get(lmevaljob_path("prov-replace", "lmeval-ci"))
    assert job["metadata"]["uid"] != uid
    assert {"name": "num_concurrent", "value": "4"} in job["spec"]["modelArgs"]


def test_api_key_secret_is_referenced_never_inlined(capsys, plane, kube_) -> None:
    code, _, err = run_cli(capsys, plane, *provision_args("prov-secret", "--api-key-secret", "model-token"))
    assert code == 0, err
    env = kube_.get(lmevaljob_path("prov-secret", "lmeval-ci"))["spec"]["pod"]["container"]["env"]
    assert env == [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "model-token", "key": "token"}}}]


def test_lint_error_stops_before_anything_is_applied(capsys, plane, kube_) -> None:
    args = provision_args("prov-lint")
    args[args.index(URL)] = "http://granite-predictor.models.svc.cluster.local:8080/v1"
    code, out, err = run_cli(capsys, plane, *args)
    assert code == 1
    assert "LME002" in out and "nothing was applied" in err
    assert kube_.get_or_none(resource_path("", "v1", "namespaces", None, "prov-lint")) is None


def test_teardown_removes_what_provision_created_including_its_namespace(capsys, plane, kube_) -> None:
    assert run_cli(capsys, plane, *provision_args("prov-teardown"))[0] == 0
    code, _, err = run_cli(capsys, plane, "provision", "-n", "prov-teardown", "--teardown")
    assert code == 0, err
    assert "Namespace/prov-teardown: deleted" in err
    assert kube_.get_or_none(resource_path("", "v1", "namespaces", None, "prov-teardown")) is None


def test_teardown_keeps_a_namespace_that_existed_and_objects_that_are_not_ours(capsys, plane, kube_) -> None:
    namespaces = resource_path("", "v1", "namespaces")
    kube_.create(namespaces, {"metadata": {"name": "prov-shared"}})
    mine = resource_path("", "v1", "configmaps", "prov-shared")
    kube_.create(mine, {"metadata": {"name": "team-settings"}, "data": {"a": "b"}})
    assert run_cli(capsys, plane, *provision_args("prov-shared"))[0] == 0
    assert run_cli(capsys, plane, "provision", "-n", "prov-shared", "--teardown")[0] == 0
    assert kube_.get_or_none(resource_path("", "v1", "namespaces", None, "prov-shared")) is not None
    assert kube_.get_or_none(mine + "/team-settings") is not None
    for group, version, plural, name in OBJECTS:
        assert kube_.get_or_none(resource_path(group, version, plural, "prov-shared", name)) is None
    assert list(kube_.list_items(lmevaljob_path("prov-shared"))) == []
    # Tearing down twice is harmless.
    assert run_cli(capsys, plane, "provision", "-n", "prov-shared", "--teardown")[0] == 0


def test_two_jobs_share_a_namespace_and_tear_down_independently(capsys, plane, kube_) -> None:
    assert run_cli(capsys, plane, *provision_args("prov-two", job="eval-a"))[0] == 0
    assert run_cli(capsys, plane, *provision_args("prov-two", job="eval-b"))[0] == 0
    code, _, err = run_cli(capsys, plane, "provision", "-n", "prov-two", "--job-name", "eval-a", "--teardown")
    assert code == 0 and "kept (other provisioned jobs remain: eval-b)" in err, err
    assert kube_.get_or_none(resource_path("", "v1", "serviceaccounts", "prov-two", "eval-b-runner")) is not None
    assert kube_.get_or_none(resource_path("", "v1", "serviceaccounts", "prov-two", "eval-a-runner")) is None
    assert [j["metadata"]["name"] for j in kube_.list_items(lmevaljob_path("prov-two"))] == ["eval-b"]
    code, _, err = run_cli(capsys, plane, "provision", "-n", "prov-two", "--job-name", "eval-b", "--teardown")
    assert code == 0 and "Namespace/prov-two: deleted" in err, err


# -- no write before its checks -------------------------------------------------------------------------------
def runner_objects(kube: Kube, namespace: str, job: str = "lmeval-ci") -> list[str]:
    """Which of the job's ServiceAccount/Role/RoleBinding exist."""
    found = []
    for group, version, plural in (("", "v1", "serviceaccounts"), ("rbac.authorization.k8s.io", "v1", "roles"),
                                   ("rbac.authorization.k8s.io", "v1", "rolebindings")):
        if kube.get_or_none(resource_path(group, version, plural, namespace, f"{job}-runner")) is not None:
            found.append(plural)
    return found


def run_as(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--kubeconfig", str(kubeconfig)])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def test_someone_elses_job_of_the_same_name_stops_provision_before_any_write(capsys, plane, kube_) -> None:
    kube_.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": "prov-foreign"}})
    kube_.create(lmevaljob_path("prov-foreign"), {
        "apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob", "metadata": {"name": "lmeval-ci"},
        "spec": {"model": "hf", "taskList": {"taskNames": ["arc_easy"]}}})
    theirs = kube_.get(lmevaljob_path("prov-foreign", "lmeval-ci"))["metadata"]["resourceVersion"]
    code, _, err = run_cli(capsys, plane, *provision_args("prov-foreign"))
    assert runner_objects(kube_, "prov-foreign") == [], err
    assert code == 2 and "not created by lmeval-setup" in err and "nothing was written" in err, err
    assert kube_.get(lmevaljob_path("prov-foreign", "lmeval-ci"))["metadata"]["resourceVersion"] == theirs


def _grant(kube: Kube, namespace: str, user: str, rules: list[dict[str, Any]]) -> None:
    rbac = "rbac.authorization.k8s.io"
    kube.create(resource_path(rbac, "v1", "roles", namespace), {"metadata": {"name": user}, "rules": rules})
    kube.create(resource_path(rbac, "v1", "rolebindings", namespace), {
        "metadata": {"name": user}, "roleRef": {"apiGroup": rbac, "kind": "Role", "name": user},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": user}]})


def test_missing_permissions_stop_provision_before_any_write(capsys, plane, kube_) -> None:
    """May create every kind provision writes, but not read pods: RBAC would refuse the Role (it grants
    pods get/list/watch) after the ServiceAccount was made; the preflight refuses first, listing all."""
    namespace, user = "prov-rbac", "ci-limited"
    kube_.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": namespace}})
    everything = ["get", "list", "watch", "create", "update", "patch", "delete"]
    _grant(kube_, namespace, user, [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": everything},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": everything},
        {"apiGroups": ["trustyai.opendatahub.io"], "resources": ["lmevaljobs", "lmevaljobs/status"],
         "verbs": everything},
    ])
    rbac = "rbac.authorization.k8s.io"
    kube_.create(resource_path(rbac, "v1", "clusterroles"), {"metadata": {"name": user}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]})  # provision reads its namespace
    kube_.create(resource_path(rbac, "v1", "clusterrolebindings"), {
        "metadata": {"name": user}, "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": user}]})
    kubeconfig = plane.kubeconfig_for(user)
    code, out, err = run_as(capsys, kubeconfig, *provision_args(namespace))
    assert runner_objects(kube_, namespace) == [], err
    assert code == 4, (out, err)
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "nothing was written" in error, err
    for missing in ("get, list, watch pods in namespace prov-rbac", "get, list, watch pods/log",
                    "get, list, watch events"):
        assert missing in error, err
    assert "serviceaccounts" not in error and "lmevaljobs" not in error  # only what is missing
    assert list(kube_.list_items(lmevaljob_path(namespace))) == []
    # Given what the Role grants, the same identity provisions everything.
    kube_.merge_patch(resource_path(rbac, "v1", "roles", namespace, user), {"rules": [
        *kube_.get(resource_path(rbac, "v1", "roles", namespace, user))["rules"],
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list", "watch"]}]})
    code, out, err = run_as(capsys, kubeconfig, *provision_args(namespace))
    assert code == 0, (out, err)
    assert runner_objects(kube_, namespace) == ["serviceaccounts", "roles", "rolebindings"]


# -- waiting, results, gates ------------------------------------------------------------------------------
def test_wait_prints_results_and_applies_gates_with_junit(capsys, plane, kube_, tmp_path: Path) -> None:
    play_operator(kube_, "prov-gates", "lmeval-ci", SUCCEEDED)
    junit = tmp_path / "gates.xml"
    code, out, err = run_cli(capsys, plane, *provision_args(
        "prov-gates", "--wait", "--timeout", "60", "--gate", "arc_easy:acc_norm>=0.75",
        "--gate", "hellaswag:acc_norm>=0.9", "--junit", str(junit)))
    assert code == 1, err
    assert "Running: Requesting API [########............] 40%" in err  # plain progress lines off a TTY
    assert "arc_easy acc_norm" in out and "0.7800 ± 0.0110" in out
    assert "arc_easy:acc_norm>=0.75: passed" in out and "hellaswag:acc_norm>=0.9: FAILED" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    # The job is unchanged, so waiting again reads the finished job at once; the passing gate alone exits 0.
    code, out, _ = run_cli(capsys, plane, *provision_args("prov-gates", "--wait", "--gate", "arc_easy:acc>=0.7"))
    assert code == 0 and "passed" in out


# A failed job, and the driver's race (test_real_driver_results): Succeeded with no results, which used to end in
# a usage error (exit 2, "has no results") blaming the caller. Both are the job's failure, the doctor's findings
# printed (on a bare apiserver LME110 says OpenShift AI is missing) and named in the junit error.
@pytest.mark.parametrize(("namespace", "final", "headline", "rule"), [
    ("prov-fail", {"state": "Complete", "reason": "Failed", "message": "exit status 1"},
     "failed: exit status 1", "LME110"),
    ("prov-lost", {"state": "Complete", "reason": "Succeeded", "message": "job completed"},
     "succeeded: job completed, but its status holds no results", "LME041"),
])
def test_a_job_that_ends_without_results_prints_the_doctors_findings(
        capsys, plane, kube_, tmp_path: Path, namespace: str, final: dict[str, Any], headline: str,
        rule: str) -> None:
    play_operator(kube_, namespace, "lmeval-ci", final, delay=0.2)
    junit = tmp_path / "failed.xml"
    code, out, err = run_cli(capsys, plane, *provision_args(
        namespace, "--wait", "--timeout", "60", "--gate", "arc_easy:acc>=0.5", "--junit", str(junit)))
    assert code == 1, err
    assert f"LMEvalJob {namespace}/lmeval-ci {headline}" in out
    assert rule in out
    error = ET.parse(junit).getroot().find("testsuite/testcase/error")
    assert error is not None and rule in (error.get("message") or "") + (error.text or "")


def test_timeout_exits_5_and_teardown_still_runs(capsys, plane, kube_) -> None:
    code, _, err = run_cli(capsys, plane, *provision_args("prov-timeout", "--wait", "--timeout", "2", "--teardown"))
    assert code == 5, err
    assert "did not finish within 2s" in err and "teardown: Namespace/prov-timeout: deleted" in err


def test_results_table_compare_and_plot(capsys, plane, kube_, tmp_path: Path) -> None:
    for job, arc, hella, seconds in (("granite-fp16", 0.80, 0.76, 900.0), ("granite-w4a16", 0.75, 0.75, 600.0)):
        path = lmevaljob_path("prov-results")
        if kube_.get_or_none(resource_path("", "v1", "namespaces", None, "prov-results")) is None:
            kube_.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": "prov-results"}})
        kube_.create(path, {"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
                            "metadata": {"name": job}, "spec": {"model": "local-completions",
                                                               "taskList": {"taskNames": ["arc_easy"]}}})
        kube_.merge_patch(f"{path}/{job}/status", {"status": {
            "state": "Complete", "reason": "Succeeded", "results": results_json(arc, hella, job, seconds)}})
    code, out, _ = run_cli(capsys, plane, "results", "-n", "prov-results")
    assert code == 0 and "granite-fp16" in out and "granite-w4a16" in out and "15m00s" in out
    code, out, _ = run_cli(capsys, plane, "results", "-n", "prov-results", "granite-fp16", "-o", "csv")
    assert code == 0 and out.startswith("job,namespace,model")
    plot = tmp_path / "compare.png"
    code, out, err = run_cli(capsys, plane, "results", "-n", "prov-results", "--compare", "granite-fp16",
                             "granite-w4a16", "--plot", str(plot))
    assert code == 0, err
    assert "-0.0500" in out and "-5m00s" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(capsys, plane, "results", "-n", "prov-results", "missing-job")
    assert code == 2 and "not found" in err


# -- scaffold ------------------------------------------------------------------------------------------------
def test_scaffold_output_lints_clean_and_applies_with_kubectl_k(capsys, plane, kube_, tmp_path: Path) -> None:
    from lmeval_setup.lint import lint_paths
    from lmeval_setup.platform.permissions import Permissions
    from lmeval_setup.sandbox.controlplane import default_binary_dir

    out_dir = tmp_path / "trustyai-eval"
    with pytest.raises(SystemExit) as exc:  # scaffold needs no cluster, so no --kubeconfig
        main(["scaffold", str(out_dir), "-n", "scaffold-demo", "--tasks", "arc_easy,hellaswag",
              "--tokenizer", TOKENIZER, "--model", f"name=granite-w4a16,url={URL},gpus=1",
              "--model", f"name=granite-fp16,url={URL},gpus=4"])
        raise SystemExit(0)
    assert exc.value.code in (0, None), capsys.readouterr().err
    lint = lint_paths([str(out_dir)], Permissions(online=True, code_execution=False))
    assert lint.errors == [] and lint.findings == [] and len(lint.checked) == 2
    kubectl = default_binary_dir() / "kubectl"
    if not os.access(kubectl, os.X_OK):
        pytest.skip("kubectl not built (tools/build-controlplane.sh builds it)")
    applied = subprocess.run([str(kubectl), "--kubeconfig", str(plane.kubeconfig), "apply", "-k", str(out_dir)],
                             capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    jobs = {j["metadata"]["name"]: j for j in kube_.list_items(lmevaljob_path("scaffold-demo"))}
    assert set(jobs) == {"lmeval-granite-w4a16", "lmeval-granite-fp16"}
    assert jobs["lmeval-granite-fp16"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lmeval"


# -- the Ansible playbook ------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def run_playbook(plane: Any, *extra: str) -> subprocess.CompletedProcess[str]:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    # kubernetes.core caches discovery in TMPDIR as k8srcp-<sha256 of host and user>.json: in /tmp, a later
    # plane on the same port would read this one's API groups.
    tmp = Path(plane.kubeconfig).parent / "ansible-tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(plane.kubeconfig), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "TMPDIR": str(tmp)}
    argv = [str(playbook), "playbooks/provision-ci.yml", "-e", "lmeval_ci_namespace=prov-ansible",
            "-e", "lmeval_ci_model=granite", "-e", f"lmeval_ci_base_url={URL}",
            "-e", f"lmeval_ci_tokenizer={TOKENIZER}",
            "-e", "lmeval_ci_tasks=arc_easy", "-e", "lmeval_ci_wait=false",
            # No OpenShift AI on a bare apiserver: say what the cluster permits instead of asking it.
            "-e", "lmeval_ci_allow_online=true", "-e", "lmeval_ci_allow_code_execution=false", *extra]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def recap_changed(output: str) -> int:
    line = next(ln for ln in output.splitlines() if ln.startswith("localhost") and "changed=" in ln)
    return int(line.split("changed=")[1].split()[0])


def test_playbook_applies_the_same_objects_idempotently_and_tears_down(capsys, plane, kube_) -> None:
    first = run_playbook(plane)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    job = kube_.get(lmevaljob_path("prov-ansible", "lmeval-ci"))
    # The same builder as the CLI: the CLI, run with the same arguments, finds nothing to change.
    before = versions(kube_, "prov-ansible")
    code, _, err = run_cli(capsys, plane, "provision", "-n", "prov-ansible", "--model", "granite", "--base-url", URL,
                           "--tokenizer", TOKENIZER, "--tasks", "arc_easy", "--allow-online",
                           "--no-allow-code-execution")
    assert code == 0 and err.count(": unchanged") == 5, err
    second = run_playbook(plane)
    assert second.returncode == 0 and recap_changed(second.stdout) == 0, second.stdout[-3000:]
    assert versions(kube_, "prov-ansible") == before
    third = run_playbook(plane, "-e", "lmeval_ci_limit=5")
    assert third.returncode == 0, third.stdout[-3000:]
    replaced = kube_.get(lmevaljob_path("prov-ansible", "lmeval-ci"))
    assert replaced["metadata"]["uid"] != job["metadata"]["uid"] and replaced["spec"]["limit"] == "5"
    gone = run_playbook(plane, "-e", "lmeval_ci_state=absent")
    assert gone.returncode == 0, gone.stdout[-3000:]
    assert kube_.get_or_none(resource_path("", "v1", "namespaces", None, "prov-ansible")) is None
