"""provision / results end to end on the sandbox (`bootstrapped` on rhoai-2.25): the TrustyAI
operator of that line (the real one where it is built) runs the jobs with real lm-eval, which fails the seed
mistakes and completes good jobs with results.

One sandbox for the module (CPU is shared): the jobs run in their own namespaces, tests that reuse a
finished job say so.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testsupport import require_controlplane_binaries

from lmeval_setup.cli.main import main
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform.lmevaljob import lmevaljob_path

pytestmark = pytest.mark.controlplane

PROFILE = "rhoai-2.25"
NAMESPACE = "ci-eval"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    from lmeval_setup.sandbox.harness import running_sandbox

    plane = ControlPlane(tmp_path_factory.mktemp("provision-sandbox"))
    plane.start()
    try:
        with running_sandbox(plane, PROFILE, "bootstrapped") as box:
            # The model the jobs evaluate: lm-eval really connects to it (its vLLM stand-in), so it must exist.
            from lmeval_setup.sandbox.scenarios import serve_model

            serve_model(box.kube)
            yield box
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


@pytest.fixture(scope="module")
def seed() -> Any:
    from lmeval_setup.sandbox import jobs

    return jobs


def run_cli(capsys: pytest.CaptureFixture[str], sandbox: Any, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--kubeconfig", sandbox.kubeconfig])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def job_args(seed: Any, namespace: str, *extra: str, job: str = "lmeval-ci", url: str | None = None,
             limit: str = "10") -> list[str]:
    # No --allow-online: provision asks the cluster, which the bootstrapped scenario permits.
    return ["provision", "-n", namespace, "--job-name", job, "--model", seed.SERVED_MODEL,
            "--base-url", url or seed.COMPLETIONS_URL, "--tokenizer", seed.HF_TOKENIZER,
            "--tasks", "arc_easy", "--limit", limit, *extra]


def versions(kube: Kube, namespace: str, job: str = "lmeval-ci") -> dict[str, str]:
    paths = [resource_path("", "v1", "namespaces", None, namespace),
             resource_path("", "v1", "serviceaccounts", namespace, "lmeval-ci-runner"),
             resource_path("rbac.authorization.k8s.io", "v1", "roles", namespace, "lmeval-ci-runner"),
             resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", namespace, "lmeval-ci-runner"),
             lmevaljob_path(namespace, job)]
    return {p: kube.get(p)["metadata"]["resourceVersion"] for p in paths}


@pytest.fixture(scope="module")
def good_run(sandbox: Any, seed: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The good job, provisioned and run once for the module (capsys is function-scoped: capture here)."""
    import contextlib
    import io

    junit = tmp_path_factory.mktemp("junit") / "pass.xml"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main([*job_args(seed, NAMESPACE, "--wait", "--timeout", "240", "--gate", "arc_easy:acc_norm>=0.3",
                        "--junit", str(junit)), "--kubeconfig", sandbox.kubeconfig])
    return {"code": exc.value.code, "out": out.getvalue(), "err": err.getvalue(), "junit": junit}


def test_good_job_provisions_completes_prints_results_and_passes_its_gate(good_run: dict[str, Any], sandbox) -> None:
    assert good_run["code"] == 0, good_run["out"] + good_run["err"]
    assert "arc_easy acc_norm" in good_run["out"] and "±" in good_run["out"]
    assert "arc_easy:acc_norm>=0.3: passed" in good_run["out"]
    suite = ET.parse(good_run["junit"]).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"
    job = sandbox.kube.get(lmevaljob_path(NAMESPACE, "lmeval-ci"))
    assert job["spec"]["allowOnline"] is True  # what the bootstrapped cluster permits
    assert job["status"]["state"] == "Complete" and job["status"]["reason"] == "Succeeded"


def wait_for_complete_time(kube: Kube, namespace: str, job: str = "lmeval-ci", timeout: float = 120.0) -> None:
    """Until the operator's last write of a finished job, status.completeTime. The real controller
    (handleComplete, 2.25 on) reports Complete, then shuts the driver down and only then records
    completeTime: a snapshot taken in between blamed provision for the operator's write."""
    deadline = time.monotonic() + timeout
    while not (kube.get(lmevaljob_path(namespace, job)).get("status") or {}).get("completeTime"):
        assert time.monotonic() < deadline, f"{job} never got a completeTime"
        time.sleep(0.5)


def test_second_provision_changes_nothing(good_run, capsys, sandbox, seed) -> None:
    wait_for_complete_time(sandbox.kube, NAMESPACE)
    before = versions(sandbox.kube, NAMESPACE)
    code, _, err = run_cli(capsys, sandbox, *job_args(seed, NAMESPACE))
    assert code == 0 and err.count(": unchanged") == 5, err
    assert versions(sandbox.kube, NAMESPACE) == before


def test_gate_above_the_score_fails_with_a_junit_failure(good_run, capsys, sandbox, seed, tmp_path: Path) -> None:
    junit = tmp_path / "fail.xml"
    # Same spec: the finished job is read again, not re-run.
    code, out, _ = run_cli(capsys, sandbox, *job_args(seed, NAMESPACE, "--wait", "--timeout", "60",
                                                       "--gate", "arc_easy:acc_norm>=0.95", "--junit", str(junit)))
    assert code == 1
    assert "arc_easy:acc_norm>=0.95: FAILED" in out
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "0.95" in failure.get("message", "")


def test_broken_job_fails_with_the_doctors_rule_id(capsys, sandbox, seed) -> None:
    broken_url = f"{seed.ENDPOINT}/v1"
    # Lint stops it before anything is applied...
    code, out, _ = run_cli(capsys, sandbox, *job_args(seed, "ci-broken", url=broken_url))
    assert code == 1 and "LME002" in out
    assert sandbox.kube.get_or_none(resource_path("", "v1", "namespaces", None, "ci-broken")) is None
    # ...and when the rule is ignored at lint time, the job fails on the cluster and the doctor names it.
    code, out, err = run_cli(capsys, sandbox, *job_args(seed, "ci-broken", "--ignore", "LME002", "--wait",
                                                         "--timeout", "240", "--teardown", url=broken_url))
    assert code == 1, out + err
    assert "failed: exit status 1" in out
    assert "LME002" in out and "base-url-path" in out
    assert "teardown: Namespace/ci-broken: deleted" in err


def test_results_compare_and_plot_on_two_completed_jobs(good_run, capsys, sandbox, seed, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, sandbox, *job_args(seed, NAMESPACE, "--wait", "--timeout", "240",
                                                       job="lmeval-ci-b", limit="20"))
    assert code == 0, err
    plot = tmp_path / "compare.png"
    code, out, err = run_cli(capsys, sandbox, "results", "-n", NAMESPACE, "--compare", "lmeval-ci", "lmeval-ci-b",
                             "--plot", str(plot))
    assert code == 0, err
    assert "A: lmeval-ci" in out and "B: lmeval-ci-b" in out and "arc_easy" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run_cli(capsys, sandbox, "results", "-n", NAMESPACE, "-o", "markdown")
    assert code == 0 and out.count("\n") == 4  # header, rule, two jobs


def test_teardown_leaves_nothing_behind(good_run, capsys, sandbox) -> None:
    for job in ("lmeval-ci-b", "lmeval-ci"):
        code, _, err = run_cli(capsys, sandbox, "provision", "-n", NAMESPACE, "--job-name", job, "--teardown")
        assert code == 0, err
    kube = sandbox.kube
    assert kube.get_or_none(resource_path("", "v1", "namespaces", None, NAMESPACE)) is None
    leftovers = [o for o in kube.list_items(resource_path("", "v1", "pods"))
                 if o["metadata"]["namespace"] == NAMESPACE]
    assert leftovers == []
