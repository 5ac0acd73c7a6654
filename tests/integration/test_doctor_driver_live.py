"""Failure paths of the driver and of the pod's lifecycle, live, in one sandbox (issue 14 item 2). Custom tasks
from git and S3 offline storage: the real rhoai-3.5 controller and the real driver in the job
pod (LMEVAL_SANDBOX_OPERATOR=real; these jobs fail before lm-eval starts). The driver clones the
job's taskList.customTasks git source before lm-eval; an unreachable repository fails the job with the driver's
own message, which the controller reads through `driver --get-status`. The doctor names LME031 with that message
as evidence; a job without online access gets the driver's refusal, LME001; an S3 download that fails is LME032
(the driver runs the job image's s3_downloader.py, here its sandbox stand-in, which behaves as the image's script
does: TLS verification without a caBundle stops it, an endpoint it cannot reach fails it); `doctor --from-dir` on
what `--collect` wrote finds the same.

The pod's lifecycle, in namespace lifecycle-live, with the real kube-controller-manager and the sandbox kubelet:
- `pvc-pending` (outputs.pvcManaged): the controller creates `<job>-pvc` without a StorageClass; the real
  PersistentVolume controller reports FailedBinding ("no storage class is set": the sandbox, like a cluster
  without a default StorageClass, has none) and the pod stays unschedulable (the sandbox kubelet schedules as
  the scheduler's VolumeBinding plugin does) -> LME040, the scheduler's verdict folded into it;
- `bad-size` (pvcManaged.size "ten gigs"): the real controller's resource.MustParse panics, controller-runtime
  recovers and requeues, the job never gets a status -> LME040 from the spec;
- `evicted`: the kubelet's eviction manager (sandbox hook: annotation sandbox.lmeval-setup.io/evict, which the
  controller copies from the job to the pod) evicts the pod for ephemeral-storage; the controller fails the job
  with the main container's state -> LME036 with the kubelet's message;
- `driver-crash`: the `driver` init container exits 1 (sandbox hook: annotation sandbox.lmeval-setup.io/crash,
  with the real driver's copy error); the pod fails and the controller, which waits for `main`, leaves the job
  Scheduled -> LME037.

The controller's pods/exec failing part-way through a job, in namespace exec-live (sandbox hook: annotation
sandbox.lmeval-setup.io/exec-fail, copied to the pod; the runtime refuses the named exec with CRI-O's error):
- `stalled`: an evaluation that hangs (a sitecustomize on the job's PYTHONPATH makes `python -m lm_eval` sleep:
  a stand-in for lm-eval stuck before its first request) is seen Running by the controller; then its pod is
  annotated and every later `driver --get-status` is refused. The controller logs "unable to retrieve the
  status from the job's pod" and the job stays Running with its progress frozen -> LME024 with that log line.
  (Refusing "after the first N" from the start was flaky at a load of 38: the first exec can come before the
  driver listens and fail on its own, so the job never turned Running.)
- `not-shut-down`: `driver --shutdown` is refused. The driver ends the job before lm-eval (git custom tasks
  without online access: Complete, Failed, LME001) and waits for the shutdown; the controller never writes
  completeTime (it retries the shutdown every 10 s) and `main` keeps running -> LME039 with the pod's state and
  the controller's "failed to shutdown the job pod".
Both rules are about time (15 minutes without progress, 5 minutes after completion): the doctor runs with its
clock 16 minutes ahead of the cluster's (rules.status.utcnow), the cluster's own times are real.
One sandbox serves every test (module scope): its start and the jobs' runs are paid once. Its wait names each
condition that never became true, and the seconds each of the others took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lost_poll import LostPollRecovery, OperatorLog, manager_log

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import rule
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import realoperator
from lmeval_setup.sandbox.kubelet import CRASH_ANNOTATION, EVICT_ANNOTATION, EXEC_FAIL_ANNOTATION, EXEC_FAILED_MESSAGE
from lmeval_setup.sandbox.profiles import get_profile

pytestmark = pytest.mark.controlplane
NS = "git-tasks"
APPS_NS = get_profile("rhoai-3.5").release.default_applications_namespace  # where its operator runs
LIFE_NS = "lifecycle-live"
EXEC_NS = "exec-live"
# `python -m lm_eval` hangs at start; every other python (the pod's service wrapper, whose arguments carry the
# driver's command line, and the driver's device probe) runs on.
HANGING_LM_EVAL = """import time
from pathlib import Path

if Path("/proc/self/cmdline").read_bytes().split(b"\\0")[1:3] == [b"-m", b"lm_eval"]:
    time.sleep(3600)  # an evaluation that hangs before its first request
"""
DOCTOR_CLOCK_AHEAD = timedelta(minutes=16)  # past lifecycle.STALLED_AFTER (15 min) and SHUTDOWN_GRACE (5 min)
NO_STORAGE_CLASS = "no persistent volumes available for this claim and no storage class is set"
REPO_URL = "https://git.invalid/acme/eval-tasks.git"  # .invalid never resolves (RFC 2606)


def _git_job(name: str, *, online: bool) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=online, namespace=NS)
    body["spec"]["taskList"] = {"taskNames": ["acme_task"],
                                "customTasks": {"source": {"git": {"url": REPO_URL, "path": "tasks"}}}}
    return body


def _s3_job(name: str, *, verify_ssl: bool | None = None) -> dict[str, Any]:
    """offline.storage.s3: the driver runs the job image's scripts/s3_downloader.py before lm-eval, with the
    Secret's values in AWS_* (the kubelet resolves them) and S3_VERIFY_SSL ("true" unless verifySSL: false)."""
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=False, namespace=NS)

    def ref(key: str) -> dict[str, str]:
        return {"name": "eval-s3", "key": key}

    body["spec"]["offline"] = {"storage": {"s3": {
        "accessKeyId": ref("key"), "secretAccessKey": ref("secret"), "bucket": ref("bucket"), "path": "models",
        "region": ref("region"), "endpoint": ref("endpoint")}}}
    if verify_ssl is not None:
        body["spec"]["offline"]["storage"]["s3"]["verifySSL"] = verify_ssl
    return body


def _life_job(name: str, *, annotations: dict[str, str] | None = None, pvc_size: str | None = None) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=True, namespace=LIFE_NS)
    if annotations:
        body["metadata"]["annotations"] = annotations
    if pvc_size is not None:
        body["spec"]["outputs"] = {"pvcManaged": {"size": pvc_size}}
    return body


def _get(kube: Any, plural: str, name: str) -> dict[str, Any]:
    return kube.get_or_none(resource_path("", "v1", plural, LIFE_NS, name)) or {}


def _events_about(kube: Any, kind: str, name: str) -> list[dict[str, Any]]:
    items = kube.get(resource_path("", "v1", "events", LIFE_NS)).get("items", [])
    return [e for e in items if (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name]


def _job_status(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    job = kube.get_or_none(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace, name))
    return (job or {}).get("status") or {}


def _manager_errors(kube: Any, last: int = 20) -> list[str]:
    """The manager's last error lines, for a wait that timed out (the kubelet holds its log only in memory)."""
    lines = manager_log(kube, APPS_NS).splitlines()
    return [line for line in lines if '"level":"error"' in line or "\tERROR\t" in line][-last:]


def _logged_about(kube: Any, job: str, *words: str) -> bool:
    """The manager logged a line about the job holding all the words."""
    from lmeval_setup.doctor.operator_log import lines_about

    return any(all(w in line for w in words) for _, line in lines_about(manager_log(kube, APPS_NS), job, EXEC_NS))


# The kubelet's refusal as the manager logs it (its error field quotes the exec's failure).
EXEC_REFUSED = EXEC_FAILED_MESSAGE.split(" (")[0]


def _conditions(kube: Any) -> dict[str, Callable[[], bool]]:
    """What the module waits for, by name (each stays true once it is)."""
    def failed(namespace: str, name: str) -> Callable[[], bool]:
        return lambda: (_job_status(kube, namespace, name).get("state"), _job_status(kube, namespace, name)
                        .get("reason")) == ("Complete", "Failed")

    def pvc_failed_binding() -> bool:
        return any(e.get("reason") == "FailedBinding"
                   for e in _events_about(kube, "PersistentVolumeClaim", "pvc-pending-pvc"))

    def pod_unschedulable() -> bool:
        conditions = (_get(kube, "pods", "pvc-pending").get("status") or {}).get("conditions") or []
        return any(c.get("reason") == "Unschedulable" for c in conditions)

    refusing: list[bool] = []

    def stalled() -> bool:
        """Once the controller has seen the job Running, the runtime refuses its --get-status from then on."""
        if _job_status(kube, EXEC_NS, "stalled").get("state") != "Running":
            return False
        if not refusing:
            kube.merge_patch(resource_path("", "v1", "pods", EXEC_NS, "stalled"),
                             {"metadata": {"annotations": {EXEC_FAIL_ANNOTATION: "--get-status"}}})
            refusing.append(True)
        # The refusal's own line: a --get-status can also fail by itself first (under load the driver's status
        # endpoint may not answer yet: "command terminated with exit code 1"), which is not what is waited for.
        return _logged_about(kube, "stalled", "unable to retrieve the status from the job's pod", EXEC_REFUSED)

    def not_shut_down() -> bool:
        status = _job_status(kube, EXEC_NS, "not-shut-down")
        return (status.get("state") == "Complete" and not status.get("completeTime")
                and _logged_about(kube, "not-shut-down", "failed to shutdown the job pod", EXEC_REFUSED))

    out: dict[str, Callable[[], bool]] = {f"{NS}/{job} Failed": failed(NS, job) for job in
                                          ("clone-fails", "offline-git", "s3-assets", "s3-unreachable")}
    out.update({
        f"{LIFE_NS}/evicted Failed": failed(LIFE_NS, "evicted"),
        f"{LIFE_NS}/pvc-pending-pvc FailedBinding event": pvc_failed_binding,
        f"{LIFE_NS}/pvc-pending pod Unschedulable": pod_unschedulable,
        f"{LIFE_NS}/driver-crash pod Failed": lambda: (_get(kube, "pods", "driver-crash").get("status") or {})
        .get("phase") == "Failed",
        f"{EXEC_NS}/stalled Running, its --get-status refused": stalled,
        f"{EXEC_NS}/not-shut-down Complete, its --shutdown refused": not_shut_down,
    })
    return out


def _unfinished(kube: Any) -> list[dict[str, Any]]:
    """Every job of the three namespaces that is not Complete."""
    return [job for ns in (NS, LIFE_NS, EXEC_NS)
            for job in kube.get(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)).get("items", [])
            if (job.get("status") or {}).get("state") != "Complete"]


def _job_states(kube: Any) -> str:
    """Every job's state, reason and message, for a wait that timed out."""
    out = []
    for ns in (NS, LIFE_NS, EXEC_NS):
        for job in kube.get(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", ns)).get("items", []):
            status = job.get("status") or {}
            out.append(f"{ns}/{job['metadata']['name']}: {status.get('state')}/{status.get('reason')} "
                       f"{str(status.get('message') or '')[:100]!r}")
    return "; ".join(out)


def wait_for_all(conditions: dict[str, Callable[[], bool]], timeout: float, every: float = 0.5,
                 describe: Callable[[], str] = lambda: "", between: Callable[[], None] = lambda: None,
                 ) -> dict[str, float]:
    """Poll every named condition until all are true; return the seconds each took. On timeout, name the ones
    that never became true, the times of the others and `describe()` (a bare "timed out" at a load of 20 said
    nothing). `between` runs after each round of checks."""
    from lmeval_setup.kube.client import ApiError

    start, took = time.monotonic(), {}
    while True:
        for name, check in conditions.items():
            if name in took:
                continue
            try:
                if check():
                    took[name] = round(time.monotonic() - start, 1)
            except ApiError:
                pass
        if len(took) == len(conditions):
            return took
        if time.monotonic() - start > timeout:
            never = [name for name in conditions if name not in took]
            raise AssertionError(f"after {timeout:.0f} s these never became true: {never}; the others took "
                                 f"(s): {took}; {describe()}")
        between()
        time.sleep(every)


def _finding(result: Any, job: str, rule_id: str) -> Any:
    found = next((f for f in result.findings if f.target.name == job and f.rule_id == rule_id), None)
    assert found is not None, "\n".join(f"{f.target.name} {f.rule_id} {f.message}" for f in result.findings)
    return found


@dataclass
class Live:
    kube: Any
    snapshot: Any  # git-tasks
    result: Any
    life_snapshot: Any  # lifecycle-live
    life_result: Any
    exec_snapshot: Any  # exec-live, collected with the doctor's clock DOCTOR_CLOCK_AHEAD ahead
    exec_result: Any
    took: dict[str, float]  # seconds each awaited condition took


def _collect_later(kube: Any, namespace: str) -> Any:
    """`doctor --collect` as it would run DOCTOR_CLOCK_AHEAD from now (only the doctor's clock moves)."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.rules import status as S

    real = S.utcnow
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(S, "utcnow", lambda: real() + DOCTOR_CLOCK_AHEAD)
        return collect(kube, Scope(namespace=namespace))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from testsupport import require_controlplane_binaries

    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox

    missing = realoperator.missing_for_real(get_profile("rhoai-3.5"))
    if missing:
        pytest.skip(f"real operator for rhoai-3.5: {missing}")
    plane = ControlPlane(tmp_path_factory.mktemp("driver-live"), require_controlplane_binaries())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(realoperator.ENV_SWITCH, "real")
        plane.start()
        try:
            with running_sandbox(plane, "rhoai-3.5", "bootstrapped") as sb:  # online permitted
                kube = sb.kube
                _create_git_and_s3_jobs(kube)
                _create_lifecycle_jobs(kube)
                _create_exec_jobs(kube, Path(plane.workdir))
                # Ten jobs created at once: upstream's lost status poll (lost_poll.py) took one now and then.
                repoll = LostPollRecovery(kube, OperatorLog(kube, sb.namespace))
                took = wait_for_all(_conditions(kube), timeout=150, between=lambda: repoll.nudge(_unfinished(kube)),
                                    describe=lambda: f"{_job_states(kube)}; re-polled: {repoll.nudged}; "
                                                     f"the manager's errors: {_manager_errors(kube)}")
                snapshot = collect(kube, Scope(namespace=NS))
                life_snapshot = collect(kube, Scope(namespace=LIFE_NS))
                exec_snapshot = _collect_later(kube, EXEC_NS)
                yield Live(kube, snapshot, evaluate(snapshot), life_snapshot, evaluate(life_snapshot),
                           exec_snapshot, evaluate(exec_snapshot), took)
        finally:
            plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def _create_git_and_s3_jobs(kube: Any) -> None:
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
    kube.create(jobs, _git_job("clone-fails", online=True))
    kube.create(jobs, _git_job("offline-git", online=False))
    kube.create(resource_path("", "v1", "secrets", NS), {"metadata": {"name": "eval-s3"}, "stringData": {
        "key": "AKIAEXAMPLE", "secret": "not-a-real-secret", "bucket": "evals", "region": "us-east-1",
        "endpoint": "https://s3.invalid"}})
    kube.create(jobs, _s3_job("s3-assets"))
    kube.create(jobs, _s3_job("s3-unreachable", verify_ssl=False))


def _create_lifecycle_jobs(kube: Any) -> None:
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": LIFE_NS}})
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", LIFE_NS)
    kube.create(jobs, _life_job("pvc-pending", pvc_size="1Gi"))
    kube.create(jobs, _life_job("bad-size", pvc_size="ten gigs"))
    kube.create(jobs, _life_job("evicted", annotations={EVICT_ANNOTATION: "ephemeral-storage"}))
    kube.create(jobs, _life_job("driver-crash", annotations={CRASH_ANNOTATION: "driver"}))


def _create_exec_jobs(kube: Any, workdir: Path) -> None:
    """`workdir`: the sandbox's directory, which pods see at the same path (sandbox/podruntime.py KEEP_TMP)."""
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": EXEC_NS}})
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", EXEC_NS)
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    hang = workdir / "hanging-python"
    hang.mkdir(exist_ok=True)
    (hang / "sitecustomize.py").write_text(HANGING_LM_EVAL)
    stalled = J.lmevaljob("stalled", "local-completions", args, allow_online=True, namespace=EXEC_NS)
    stalled["spec"]["pod"] = {"container": {"env": [{"name": "PYTHONPATH", "value": str(hang)}]}}
    kube.create(jobs, stalled)
    done = _git_job("not-shut-down", online=False)  # the driver fails it before lm-eval, deterministically
    done["metadata"].update(namespace=EXEC_NS, annotations={EXEC_FAIL_ANNOTATION: "--shutdown"})
    kube.create(jobs, done)


def _same_from_dir(snapshot: Any, result: Any, directory: Path) -> None:
    """`doctor --from-dir` on what `--collect` wrote finds the same."""
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir

    back = read_dir(write_dir(snapshot, directory))
    live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
    assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                  .findings) == live


def test_git_custom_task_and_s3_failures_are_explained(live: Live, tmp_path: Path) -> None:
    kube, snapshot, result = live.kube, live.snapshot, live.result
    by_job = {(f.target.name, f.rule_id): f for f in result.findings}

    clone = by_job.get(("clone-fails", "LME031"))
    assert clone is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    status_evidence = next(ev for ev in clone.evidence if ev.path == "status.message")
    assert "failed to clone git repository" in status_evidence.text and "git.invalid" in status_evidence.text
    assert "git URL" in rule("LME031").fix

    offline = by_job.get(("offline-git", "LME001"))
    assert offline is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert any("fetching external git tasks is not allowed" in ev.text for ev in offline.evidence)

    # verifySSL defaults to true and no caBundle is given: the image's script stops before it connects,
    # and the driver prints its line in main's log.
    s3 = by_job.get(("s3-assets", "LME032"))
    assert s3 is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert any(ev.text == "failed to download assets from S3: exit status 1" and ev.path == "status.message"
               for ev in s3.evidence), s3.evidence
    assert any("SSL verification enabled, but no certificate path found" in ev.text
               and ev.path == "pod/s3-assets/main" for ev in s3.evidence), s3.evidence
    assert "caBundle" in s3.message
    assert "S3 Secret" in rule("LME032").fix and "caBundle" in rule("LME032").fix
    # verifySSL: false: the script connects to the Secret's endpoint, which the pod cannot reach.
    unreachable = by_job.get(("s3-unreachable", "LME032"))
    assert unreachable is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert [ev.text for ev in unreachable.evidence if ev.path == "status.message"] == [
        "failed to download assets from S3: exit status 1"]
    assert not any("certificate" in ev.text for ev in unreachable.evidence)

    # The real manager's log names each job the way doctor/operator_log.py looks for it (name and namespace
    # on one line), so operator-log evidence finds its lines in the real format.
    from lmeval_setup.doctor.operator_log import lines_about, operator_pods

    (op_ns, op_pod), = operator_pods(snapshot)
    manager_log = kube.pod_log(op_ns, op_pod, R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
    about = lines_about(manager_log, "clone-fails", NS)
    assert about and all("clone-fails" in line and NS in line for _, line in about), manager_log[-2000:]
    assert not any("offline-git" in line for _, line in about)

    _same_from_dir(snapshot, result, tmp_path / "collected")


def test_pod_lifecycle_failures_are_explained(live: Live, tmp_path: Path) -> None:
    kube, result = live.kube, live.life_result
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", LIFE_NS)
    # The real PersistentVolume controller's verdict (a Normal event, which a live doctor does not list):
    binding = _events_about(kube, "PersistentVolumeClaim", "pvc-pending-pvc")
    assert {(e["type"], e["reason"], e["message"]) for e in binding} == {("Normal", "FailedBinding",
                                                                          NO_STORAGE_CLASS)}
    pending = _finding(result, "pvc-pending", "LME040")
    assert "no default StorageClass" in pending.message
    texts = [ev.text for ev in pending.evidence]
    assert "persistentvolumeclaim pvc-pending-pvc: Pending, storageClassName: (none)" in texts, texts
    assert any("pod has unbound immediate PersistentVolumeClaims" in t for t in texts), texts  # LME021 folded
    assert not [f for f in result.findings if f.target.name == "pvc-pending" and f.rule_id == "LME021"]
    assert "is-default-class" in rule("LME040").fix

    # The controller really panics on the size (controller-runtime recovers it) and never writes a status.
    bad = _finding(result, "bad-size", "LME040")
    assert any(ev.path == "spec.outputs.pvcManaged.size" and "ten gigs" in ev.text for ev in bad.evidence)
    assert not (kube.get(f"{jobs}/bad-size").get("status") or {}).get("state")
    assert _get(kube, "persistentvolumeclaims", "bad-size-pvc") == {}
    from lmeval_setup.doctor.operator_log import operator_pods

    (op_ns, op_pod), = operator_pods(live.life_snapshot)
    manager_log = kube.pod_log(op_ns, op_pod, R.OPERATOR_CONTAINER, tail_lines=2000, limit_bytes=1 << 20)
    assert "Observed a panic" in manager_log and "quantities must match the regular expression" in manager_log

    evicted = _finding(result, "evicted", "LME036")
    assert any("The node was low on resource: ephemeral-storage" in ev.text
               and ev.path == "pod/evicted.status.reason" for ev in evicted.evidence), evicted.evidence
    assert "ephemeral-storage" in rule("LME036").fix

    crashed = _finding(result, "driver-crash", "LME037")
    assert any("exit code 1" in ev.text for ev in crashed.evidence), crashed.evidence
    assert (kube.get(f"{jobs}/driver-crash").get("status") or {}).get("state") == "Scheduled"

    _same_from_dir(live.life_snapshot, result, tmp_path / "collected")


def test_exec_failing_part_way_is_explained(live: Live, tmp_path: Path) -> None:
    """The real controller with its pods/exec refused part-way: the doctor, 16 minutes later, names a stalled
    Running job (LME024) and a completed job whose pod was never shut down (LME039), each with the job's
    state and the manager's own error line about it, whose error is the runtime's refusal."""
    from lmeval_setup.doctor.operator_log import operator_pods

    result, kube = live.exec_result, live.kube
    manager = [f"pod/{pod}/{R.OPERATOR_CONTAINER}" for _, pod in operator_pods(live.exec_snapshot)]

    stalled = _finding(result, "stalled", "LME024")
    assert "Running but its progress has not moved for 16 minutes (its pod is Running)" in stalled.message
    assert any(ev.path == "status.progressBars" and "status last written" in ev.text for ev in stalled.evidence)
    logged = [ev.text for ev in stalled.evidence if ev.path in manager]
    assert logged and all("unable to retrieve the status from the job's pod" in t for t in logged), logged
    assert any("command error: exec failed: unable to start container process" in t for t in logged), logged
    assert all('"reconcileID"' not in t for t in logged)  # the reconciler's context is left out
    assert "unable to retrieve the status" in rule("LME024").fix
    assert _job_status(kube, EXEC_NS, "stalled").get("state") == "Running"  # still, after the doctor ran

    lingering = _finding(result, "not-shut-down", "LME039")
    assert "but its pod 'not-shut-down' still runs" in lingering.message
    texts = {(ev.path, ev.text) for ev in lingering.evidence}
    assert ("status.completeTime", "state: Complete, completeTime: not set") in texts, texts
    assert ("pod/not-shut-down.status.containerStatuses[main]", "main: running") in texts, texts
    logged = [ev.text for ev in lingering.evidence if ev.path in manager]
    assert logged and all("failed to shutdown the job pod" in t for t in logged), logged
    assert any(EXEC_REFUSED in t for t in logged), logged
    assert "Delete the pod" in rule("LME039").fix
    assert {f.rule_id for f in result.findings if f.target.name == "not-shut-down"} == {"LME001", "LME039"}

    _same_from_dir(live.exec_snapshot, result, tmp_path / "collected")


def test_the_wait_names_what_never_happened() -> None:
    """A condition that never became true is named, with how long the others took."""
    with pytest.raises(AssertionError) as caught:
        wait_for_all({"fast": lambda: True, "never": lambda: False}, timeout=0.3, every=0.1)
    assert "these never became true: ['never']" in str(caught.value)
    assert "'fast': 0.0" in str(caught.value)
