"""The real TrustyAI manager and driver run the sandbox (LMEVAL_SANDBOX_OPERATOR=real).

Proves, per profile whose operator line is built (tools/build-operator.sh; others skip naming it):
- the operator Deployment's pod runs the real manager as a process, following the Deployment as the
  platform stand-in drives it: a rollout restart or a deleted pod starts a new manager process, scaled
  to zero none runs, a missing trustyai-service-operator-config makes the pod crash-loop (exit 1);
- `broken-jobs` is driven by the real controller: each seed job ends Complete with the reason and
  message the real driver reports, its pod's containers terminated with the real exit codes, status
  read through real pods/exec (`kubectl exec <pod> -c main -- /opt/app-root/src/bin/driver --get-status`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lost_poll import wait_all_complete
from lost_results import with_results
from testsupport import wait_for

from lmeval_setup.kube.client import JSON, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import operator_build, realoperator
from lmeval_setup.sandbox.controlplane import kubectl_path
from lmeval_setup.sandbox.harness import Sandbox, running_sandbox
from lmeval_setup.sandbox.kubelet import Kubelet
from lmeval_setup.sandbox.podruntime import DEFAULT_PATH

pytestmark = pytest.mark.controlplane

JOBS = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", J.DEMO_NAMESPACE)


@pytest.fixture
def real_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")


def require_real(profile: str) -> None:
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile(profile))
    if missing:
        pytest.skip(f"real operator for {profile}: {missing}")


def kubelet_of(sb: Sandbox) -> Kubelet:
    return sb.simulator("kubelet").instance  # type: ignore[no-any-return]


def operator_pods(sb: Sandbox) -> list[JSON]:
    pods = sb.kube.get(resource_path("", "v1", "pods", sb.namespace)).get("items", [])
    return [p for p in pods if p["metadata"].get("generateName", "").startswith(f"{R.OPERATOR_DEPLOYMENT}-")
            and not p["metadata"].get("deletionTimestamp")]


def manager_pids(sb: Sandbox) -> dict[str, int]:
    """Operator pod name -> PID of its running real manager process."""
    kubelet, found = kubelet_of(sb), {}
    for pod in operator_pods(sb):
        run = kubelet.find(sb.namespace, pod["metadata"]["name"])
        c = run.container(R.OPERATOR_CONTAINER) if run else None
        if c is not None and c.state == "running" and c.process is not None and c.process.poll() is None:
            found[pod["metadata"]["name"]] = c.process.pid
    return found


def one_manager(sb: Sandbox) -> int | None:
    pids = manager_pids(sb)
    return next(iter(pids.values())) if len(pids) == 1 and len(operator_pods(sb)) == 1 else None


def scale(sb: Sandbox, replicas: int) -> None:
    path = resource_path("apps", "v1", "deployments", sb.namespace, R.OPERATOR_DEPLOYMENT)
    sb.kube.merge_patch(path, {"spec": {"replicas": replicas}})


def kubectl(sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": DEFAULT_PATH, "HOME": str(sb.workdir), "KUBECONFIG": sb.kubeconfig}
    return subprocess.run([str(kubectl_path()), *args], capture_output=True, text=True, env=env, timeout=60)


# 2.16 (like 2.22) reads its namespace only from the service-account file (the pod's private mount supplies
# it); 3.5 is a default-real profile. Two lines keep the suite's time in bounds (2.22 passed these too).
@pytest.fixture(params=["rhoai-2.16", "rhoai-3.5"])
def bootstrapped(request: pytest.FixtureRequest, new_controlplane: Any, real_operator: None) -> Iterator[Sandbox]:
    require_real(request.param)
    with running_sandbox(new_controlplane, request.param, "bootstrapped") as sb:
        yield sb


def test_manager_process_follows_the_operator_deployment(bootstrapped: Sandbox) -> None:
    sb = bootstrapped
    from lmeval_setup.sandbox import scenarios as S

    first = wait_for("one real manager", lambda: one_manager(sb), timeout=60)
    pod = operator_pods(sb)[0]["metadata"]["name"]
    log = wait_for("the manager's own log", lambda: "Starting workers" in (out := kubectl(
        sb, "logs", "-n", sb.namespace, pod, "-c", R.OPERATOR_CONTAINER).stdout) and out, timeout=30)
    assert "lmevaljob" in log.lower()

    S.rollout_restart(sb.kube, sb.profile)  # bootstrap's restart: a new pod, a new process
    second = wait_for("a new manager after the restart", lambda: (pid := one_manager(sb)) and pid != first and pid,
                      timeout=60)
    assert second != first

    sb.kube.delete(resource_path("", "v1", "pods", sb.namespace, operator_pods(sb)[0]["metadata"]["name"]))
    third = wait_for("a new manager for the replacement pod", lambda: (pid := one_manager(sb)) not in (None, second)
                     and pid, timeout=60)
    assert third not in (first, second)

    scale(sb, 0)
    wait_for("no manager when scaled to zero", lambda: not operator_pods(sb) and not manager_pids(sb), timeout=60)
    scale(sb, 1)
    wait_for("a manager again", lambda: one_manager(sb), timeout=60)


def test_missing_configmap_makes_the_operator_pod_crash_loop(bootstrapped: Sandbox) -> None:
    sb = bootstrapped
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox import scenarios as S

    wait_for("one real manager", lambda: one_manager(sb), timeout=60)
    platform = sb.simulator("platform-operator")  # it would put the ConfigMap back at once
    runner.stop_simulators([platform])
    sb.simulators.remove(platform)
    sb.kube.delete(S.operator_configmap_path(sb.profile))
    S.rollout_restart(sb.kube, sb.profile)

    def crash_looping() -> JSON | None:
        for pod in operator_pods(sb):
            status = next(iter(pod.get("status", {}).get("containerStatuses") or []), {})
            if status.get("restartCount", 0) >= 1 and "terminated" in status.get("lastState", {}):
                return status
        return None

    status = wait_for("the operator pod to crash-loop", crash_looping, timeout=90)
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert not manager_pids(sb) or status["state"].get("running")


def test_new_jobs_see_a_configmap_value_only_after_the_manager_process_restarted(bootstrapped: Sandbox) -> None:
    """The real manager reads lmes-* options once at start (SetupWithManager): an edited ConfigMap reaches new
    jobs only through a new manager process, which a rollout restart is.

    It reads them in a runnable that runs beside the controller's workers, not before them, so a job reconciled in
    a new manager's first moments is built with the compiled-in defaults (batch size "1", offline): a CI run under
    load saw exactly that. On a cluster the readiness probe's 5 s initial delay hides this window from whoever waits
    for the rollout; here a pod is ready once its process runs. So where a manager has just started, the test waits
    until a new job shows the manager has read its ConfigMap; the claim that a running manager never re-reads it
    stays strict."""
    sb = bootstrapped
    from lmeval_setup.sandbox import scenarios as S

    first = wait_for("one real manager", lambda: one_manager(sb), timeout=60)
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", "restart-proof")
    sb.kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": "restart-proof"}})
    names = (f"job-{n}" for n in range(1000))

    def batch_size_of_a_new_job() -> str:
        name = next(names)
        body = J.lmevaljob(name, "local-completions", {"model": "m", "base_url": "http://m:8080/v1/completions"},
                           allow_online=False, namespace="restart-proof")
        del body["spec"]["batchSize"]  # the operator's lmes-default-batch-size applies
        sb.kube.create(jobs, body)
        pod_name = wait_for(f"{name}'s pod", lambda: (sb.kube.get(f"{jobs}/{name}").get("status") or {}).get("podName"),
                            timeout=60)
        pod = sb.kube.get(resource_path("", "v1", "pods", "restart-proof", pod_name))
        args = next(c for c in pod["spec"]["containers"] if c["name"] == "main")["args"]
        return str(args[args.index("--batch_size") + 1])

    def manager_has_read(value: str) -> None:
        try:
            wait_for(f"a new job built with lmes-default-batch-size {value}",
                     lambda: batch_size_of_a_new_job() == value, timeout=60, every=0.5)
        except AssertionError as exc:  # the manager's own account of its start, for whoever reads the CI log
            pod = operator_pods(sb)[0]["metadata"]["name"]
            log = kubectl(sb, "logs", "-n", sb.namespace, pod, "-c", R.OPERATOR_CONTAINER).stdout
            raise AssertionError(f"{exc}\nthe manager's log:\n{log[-4000:]}") from None

    path = S.operator_configmap_path(sb.profile)
    shipped = sb.kube.get(path)["data"]["lmes-default-batch-size"]
    manager_has_read(shipped)
    edited = "3" if shipped != "3" else "5"
    sb.kube.merge_patch(path, {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}})
    sb.settle_platform()  # or a reconcile that read the ConfigMap before the annotation puts the edit back
    sb.kube.merge_patch(path, {"data": {"lmes-default-batch-size": edited}})
    assert batch_size_of_a_new_job() == shipped  # the running manager read the ConfigMap at start only
    S.rollout_restart(sb.kube, sb.profile)
    wait_for("a new manager process, alone", lambda: (pid := one_manager(sb)) not in (None, first) and pid, timeout=60)
    # The old pod is deleted at once but its manager still reconciles until SIGTERM ends it (as an old leader
    # does on a cluster until it exits): only a job created after it is gone may see the edit.
    wait_for("the old manager process to exit", lambda: not process_alive(first), timeout=30)
    manager_has_read(edited)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _container_states(pod: JSON) -> str:
    status = pod.get("status") or {}
    states = [f"{c['name']}={next(iter(c.get('state') or {}), '?')}"
              for c in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]]
    return f"phase={status.get('phase')} " + " ".join(states)


def seed_progress(sb: Sandbox) -> str:
    """Per seed job: its state, its pod's containers and when the manager last logged about it (a job the
    controller stopped polling shows an old line); then the manager's errors. What a timed-out wait lacks."""
    logged = manager_log(sb)
    lines = []
    for job in sb.kube.get(JOBS).get("items", []):
        state, reason, message = job_outcome(job)
        name = job["metadata"]["name"]
        pod = sb.kube.get_or_none(resource_path("", "v1", "pods", J.DEMO_NAMESPACE,
                                                (job.get("status") or {}).get("podName") or name))
        last = next((text for text in reversed(logged) if f'"name":"{name}"' in text), "none")
        lines.append(f"  {name}: state={state!r} reason={reason!r} message={message[:80]!r}; "
                     f"{_container_states(pod) if pod else 'no pod'}; manager's last line on it: {last[:110]}")
        lines.append(f"    {_execs(sb, name)}; {_main_process(sb, name)}")
    errors = [text for text in logged if "\tERROR\t" in text]
    lines.append(f"  manager pods: {[_container_states(p) for p in operator_pods(sb)]}; its errors "
                 f"({len(errors)}, last 5):")
    lines.extend(f"    {text[:300]}" for text in errors[-5:])
    return "\n".join(lines)


def _execs(sb: Sandbox, pod: str) -> str:
    """The execs the controller made into the job's pod (kubelet-stream asks the kubelet for each): how many
    --get-status, and every --shutdown with how long ago and the kubelet's answer."""
    now = time.time()
    execs = [(at, " ".join(command), status) for at, namespace, name, _, command, status in kubelet_of(sb).execs
             if namespace == J.DEMO_NAMESPACE and name == pod]
    shutdowns = [f"{now - at:.0f}s ago ({status})" for at, command, status in execs if "--shutdown" in command]
    status_calls = sum("--get-status" in command for _, command, _ in execs)
    return f"execs: {status_calls} --get-status, --shutdown: {shutdowns or 'none'}"


def _main_process(sb: Sandbox, pod: str) -> str:
    """What the kubelet knows of the job's main container: its state, and whether its process still runs."""
    run = kubelet_of(sb).find(J.DEMO_NAMESPACE, pod)
    main = run.container("main") if run else None
    if main is None:
        return "the kubelet runs no such pod" if run is None else "no main container in the kubelet"
    process = main.process.process if main.process is not None else None
    alive = "no process" if process is None else ("running" if process.poll() is None else f"exited {process.poll()}")
    return f"kubelet: main {main.state}, its process {alive}"


def manager_log(sb: Sandbox) -> list[str]:
    """The running manager pods' log lines (the kubelet's record of the manager process's output)."""
    kubelet = kubelet_of(sb)
    return [text for pod in operator_pods(sb)
            for _, text in kubelet.logs.lines(pod["metadata"]["uid"], R.OPERATOR_CONTAINER) or []]


def job_outcome(job: JSON) -> tuple[str, str, str]:
    status = job.get("status") or {}
    return status.get("state", ""), status.get("reason", ""), status.get("message", "")


# Three driver generations: a Unix socket in /tmp (2.16), TCP 18080 before the 2.25 permission model (2.22),
# the latest (3.5). 2.25, 3.0 and 3.3 passed too; more parameters cost ~40 s each.
@pytest.mark.parametrize("profile", ["rhoai-2.16", "rhoai-2.22", "rhoai-3.5"])
def test_broken_jobs_are_driven_by_the_real_controller(new_controlplane: Any, real_operator: None,
                                                       monkeypatch: pytest.MonkeyPatch, profile: str) -> None:
    require_real(profile)
    # The job pods run real lm-eval (the job image), against the sandbox's model servers: eval-good must
    # succeed for real. Without lm-eval in the pod (LMEVAL_SANDBOX_LM_EVAL=none) no job can succeed.
    monkeypatch.delenv(realoperator.LM_EVAL_SWITCH, raising=False)
    with running_sandbox(new_controlplane, profile, "broken-jobs") as sb:
        seeds = {seed.name: seed for seed in J.SEED_JOBS}
        statuses: list[str] = []

        def main_running_status() -> bool:
            """`kubectl exec <pod> -c main -- driver --get-status` while some job's main container runs."""
            for job in sb.kube.get(JOBS).get("items", []):
                pod = (job.get("status") or {}).get("podName")
                if not pod:
                    continue
                done = kubectl(sb, "exec", "-n", J.DEMO_NAMESPACE, pod, "-c", "main", "--",
                               "/opt/app-root/src/bin/driver", "--get-status")
                if done.returncode == 0:
                    statuses.append(done.stdout)
                    return True
            return False

        wait_for("exec --get-status into a running main container", main_running_status, timeout=120, every=0.5)
        assert "state" in json.loads(statuses[0])

        # a timeout says which job is not Complete, where its pod is, what the manager did
        jobs = wait_all_complete(sb.kube, J.DEMO_NAMESPACE, lambda: manager_log(sb), timeout=300,
                                 progress=lambda: "\n" + seed_progress(sb))

        def pod_finished(job: JSON) -> JSON | None:
            """After Complete the controller sends --shutdown; the driver exits and the pod ends a moment later."""
            pod = sb.kube.get(resource_path("", "v1", "pods", J.DEMO_NAMESPACE, job["status"]["podName"]))
            return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

        for job in jobs:
            name = job["metadata"]["name"]
            state, reason, message = job_outcome(job)
            try:
                pod = wait_for(f"{name}'s pod to end", lambda job=job: pod_finished(job), timeout=60)
            except AssertionError as exc:  # seen once at load: say what the pod and the manager did
                raise AssertionError(f"{exc}\n{seed_progress(sb)}") from None
            main = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "main")
            driver = pod["status"]["initContainerStatuses"][0]
            assert driver["state"]["terminated"]["exitCode"] == 0, name
            if seeds[name].should_succeed:
                assert (reason, message) == ("Succeeded", "job completed"), name
                job = with_results(sb.kube, job)  # re-run once if the driver's race lost them (LME041)
                assert job["status"].get("results"), name
                assert main["state"]["terminated"]["exitCode"] == 0, name
                assert pod["status"]["phase"] == "Succeeded", name
            else:
                assert (state, reason, message) == ("Complete", "Failed", "exit status 1"), name
                assert main["state"]["terminated"]["exitCode"] == 1, name
                assert pod["status"]["phase"] == "Failed", name


def test_operator_lines_cover_every_rhoai_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every profile has a line the real operator can be built from, and the real manager is its default
    (the simulator is the fallback where it cannot run: realoperator.missing_for_real)."""
    from lmeval_setup.sandbox.profiles import PROFILES

    monkeypatch.delenv(realoperator.ENV_SWITCH, raising=False)
    for name in PROFILES:
        assert operator_build.lines_for_profile(name), name
        assert realoperator.mode(name) == "real", name
