"""broken-jobs with the real lm-eval: every `main` log is lm-eval's own output.

With the real operator, the real TrustyAI driver runs the job image venv's `python -m lm_eval` in the
pod's namespaces; with the simulated one, driver_standin.py stands where the driver would. The simulated
case runs only where the real operator cannot (no build of its line, no namespaces or kubelet-stream): the
fallback of a fresh clone without Go builds or ../shared. Either way the
pod reaches the `granite` InferenceService (a vLLM stand-in on its cluster-local name) and the Hub
stand-in through podservices.py. Each failed seed job's live log must be attributed by the doctor's
log rules to the seed's rule; the good job's status.results is lm-eval's own results JSON and
`lmeval-setup results` reads it.
Needs `make jobimage` and Linux namespaces; the real-operator case also its build (tools/build-operator.sh)
and kubelet-stream. Skips without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from lost_poll import OperatorLog, wait_all_complete
from lost_results import with_results
from testsupport import wait_for

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules import logs
from lmeval_setup.sandbox import jobimage, realoperator
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox.harness import running_sandbox

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(900)]

PROFILE = "rhoai-3.5"
JOBS = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", J.DEMO_NAMESPACE)


@pytest.fixture(params=["real", "simulated"])
def operator_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The real manager and driver, or the simulated operator with the stand-in driver: lm-eval is real."""
    from lmeval_setup.sandbox.podruntime import PodRuntime
    from lmeval_setup.sandbox.profiles import get_profile

    monkeypatch.setenv(realoperator.ENV_SWITCH, request.param)
    monkeypatch.setenv(realoperator.LM_EVAL_SWITCH, "real")  # the simulated operator's opt-in
    missing_real = realoperator.missing_for_real(get_profile(PROFILE))
    missing = missing_real if request.param == "real" else (
        "" if PodRuntime.available() else "Linux namespaces are not available for pods as processes")
    if missing:
        pytest.skip(f"{request.param} operator for {PROFILE}: {missing}")
    if request.param == "simulated" and not missing_real:
        # The simulated operator is only the fallback of a clone that cannot run the real manager (README
        # fidelity): where the real one runs, its case is the proof and this one would only cost minutes.
        pytest.skip(f"the real operator of {PROFILE} runs here: the simulated one is only its fallback")
    if jobimage.find() is None:
        pytest.skip(jobimage.missing_reason())
    return str(request.param)


def test_broken_jobs_run_real_lm_eval(new_controlplane: Any, operator_mode: str) -> None:
    with running_sandbox(new_controlplane, PROFILE, "broken-jobs") as sb:
        # Upstream's lost status poll strands a job Scheduled with its pod done (seen here on 3.5, which writes a
        # job twice while scheduling it): a job the manager's log shows lost so is touched, as a user would.
        jobs = wait_all_complete(sb.kube, J.DEMO_NAMESPACE, OperatorLog(sb.kube, sb.namespace), timeout=600,
                                 every=2.0)
        seeds = {seed.name: seed for seed in J.SEED_JOBS}
        for job in jobs:
            name = job["metadata"]["name"]
            log = sb.kube.pod_log(J.DEMO_NAMESPACE, job["status"]["podName"], "main")
            # lm-eval's own lines (its logger names and model initialisation), not a replayed template.
            assert "Initializing " in log and "[evaluator:" in log, f"{name}: not lm-eval output\n{log[-2000:]}"
            hit = logs.failure(log)
            if seeds[name].should_succeed:
                assert job["status"]["reason"] == "Succeeded", f"{name}: {job['status']}\n{log[-3000:]}"
                assert hit is None, f"{name}: {hit}"
                job = with_results(sb.kube, job)  # re-run once if the driver's race lost them (LME041)
                results = json.loads(job["status"]["results"])
                # Fields only lm-eval's own writer produces (the simulator never did).
                assert {"lm_eval_version", "pretty_env_info"} <= set(results), sorted(results)
                assert set(results["results"]) == {J.LOGLIKELIHOOD_TASK}
            else:
                assert job["status"]["reason"] == "Failed", f"{name}: {job['status']}"
                assert hit is not None and hit.rule_id == seeds[name].expected_rule, (
                    f"{name}: doctor says {hit}\n{log[-3000:]}")

        env = {**os.environ, "KUBECONFIG": sb.kubeconfig}
        argv = [sys.executable, "-m", "lmeval_setup.cli.main", "results", "-n", J.DEMO_NAMESPACE, "eval-good", "-o",
                "json"]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert J.LOGLIKELIHOOD_TASK in out.stdout
        if operator_mode == "real":  # the Go driver's lm-eval has no PR_SET_PDEATHSIG: the case that orphaned
            deleted_job_pod_leaves_no_process(sb)


def deleted_job_pod_leaves_no_process(sb: Any) -> None:
    """A job pod deleted while lm-eval runs takes every process of it along: the driver (or its stand-in),
    podservices' stand-ins, lm-eval and whatever lm-eval started (issue 12: orphans)."""
    import copy

    import processsupport

    job = copy.deepcopy(J.seed_job("eval-good").for_namespace(J.DEMO_NAMESPACE))
    job["metadata"]["name"] = "eval-deleted"
    sb.kube.create(JOBS, job)
    kubelet = sb.simulator("kubelet").instance

    pod_path = resource_path("", "v1", "pods", J.DEMO_NAMESPACE, "eval-deleted")  # both operators: the job's name

    def running_lm_eval() -> set[Any] | None:
        pod = sb.kube.get_or_none(pod_path)
        main = kubelet.runtime.process(pod["metadata"]["uid"], "main") if pod and kubelet.runtime else None
        tree = processsupport.descendants(main.pid) if main else set()
        return tree if any(b"-m\x00lm_eval" in _cmdline(pid) for pid, _ in tree) else None

    tree = wait_for("lm-eval running in the eval-deleted pod", running_lm_eval, timeout=300, every=0.1)
    sb.kube.delete(pod_path)
    assert processsupport.survivors(tree, timeout=15) == set()


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read()
    except OSError:
        return b""


def test_pod_services_plan_follows_the_inference_services() -> None:
    from lmeval_setup.sandbox.podservices import model_services

    isvc = {"metadata": {"name": "granite", "annotations": {"sandbox.lmeval-setup.io/fault": "429"}},
            "status": {"url": J.ENDPOINT}}
    tls = {"metadata": {"name": "secure"}, "status": {"url": "https://secure.example:443"}}
    (service,) = model_services([isvc, tls])
    assert (service.host, service.port, service.served_model_name, service.fault) == (
        f"granite-predictor.{J.DEMO_NAMESPACE}.svc.cluster.local", 8080, "granite", "429")
