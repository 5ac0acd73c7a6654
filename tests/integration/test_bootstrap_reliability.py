"""Bootstrap reliability (issue 4's "done when" and issue 8's reliability suite), on real apiservers.

- Faults: the apiserver killed at each step of a bootstrap; every interrupted run exits 3 with one
  line, the cluster is left in a half state the next run converges from, and revert restores the
  original exactly.
- The operator never becoming ready: a timeout (exit 5) naming LME107 and where to look.
- The platform reverting an unannotated ConfigMap (2.16): warned about, reported by the doctor, and
  re-applied by the next run.
- New jobs see the permissions, and a second run changes nothing, on every sandbox profile.
- A fleet of three releases bootstrapped by one command, in parallel (task spans from runner's events
  overlap across clusters).

Cost control: one control plane per profile and test; the fault chain interrupts successive runs on ONE
sandbox (each run resumes from the half state the previous kill left) instead of one sandbox per point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_support import sandbox
from fault_support import Fault, bring_the_apiserver_back, kill_apiserver_after_task, kill_apiserver_when
from testsupport import error_lines

from lmeval_setup.bootstrap.revert import RECORD_NAME, Entry, RevertStore
from lmeval_setup.bootstrap.runner import RunOptions, RunResult, run
from lmeval_setup.kube.client import APPLY_PATCH, Kube, resource_path
from lmeval_setup.kube.source import KubeSource
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.platform.operator_state import LMES_HASH_ANNOTATION

pytestmark = pytest.mark.controlplane
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
JOBS_NAMESPACE = "reliability"
OFFLINE_ENV = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE")


# -- helpers ---------------------------------------------------------------------------------------
def bootstrap(kubeconfig: str, **kw: Any) -> RunResult:
    return run(RunOptions("bootstrap", kubeconfig=kubeconfig, timeout=600, **kw))


def changed_steps(result: RunResult) -> list[str]:
    return [f"{c.name}: {s.task}" for c in result.clusters.values() for s in c.steps if s.status == "changed"]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_exit(proc: subprocess.CompletedProcess[str], code: int) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out, out
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: "), proc.stderr
    return errors[0]


def operator_config(kube: Kube, namespace: str) -> dict[str, Any] | None:
    return kube.get_or_none(resource_path("", "v1", "configmaps", namespace, R.OPERATOR_CONFIGMAP))


def operator_template_annotations(kube: Kube, namespace: str) -> dict[str, str]:
    deployment = kube.get_or_none(resource_path("apps", "v1", "deployments", namespace, R.OPERATOR_DEPLOYMENT))
    return ((deployment or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations")) or {}


def record(kube: Kube, namespace: str) -> dict[str, Entry]:
    return {e.key: e for e in RevertStore(kube, namespace).entries()}


def job_pod(kube: Kube, name: str, *, online: bool = True, code: bool = True,
            timeout: float = 60.0) -> dict[str, Any]:
    """Create an LMEvalJob asking for online + code execution; return the main container the operator built."""
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.profiles import ensure_namespace

    ensure_namespace(kube, JOBS_NAMESPACE)
    body = J.lmevaljob(name, "local-completions", {"model": "granite", "base_url": J.COMPLETIONS_URL,
                                                   "tokenizer": J.HF_TOKENIZER},
                       allow_online=online, namespace=JOBS_NAMESPACE)
    body["spec"]["allowCodeExecution"] = code
    kube.create(resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", JOBS_NAMESPACE), body)
    path = resource_path("", "v1", "pods", JOBS_NAMESPACE, name)
    deadline = time.monotonic() + timeout
    while (pod := kube.get_or_none(path)) is None:
        assert time.monotonic() < deadline, f"the TrustyAI operator made no pod for LMEvalJob {name}"
        time.sleep(0.3)
    return next(c for c in pod["spec"]["containers"] if c["name"] == "main")


def sees_online(container: dict[str, Any], release: R.Release) -> bool:
    """What the real operator does for allowOnline + permitted: no HF_*_OFFLINE, and `--allow-online` on the
    lines whose driver has the flag (Release.allow_online_flag: not 2.16, whose online mode is the env alone)."""
    env = {e["name"] for e in container.get("env") or []}
    online = not env & set(OFFLINE_ENV)
    flag = "--allow-online" in (container.get("command") or [])
    assert flag == (online and release.allow_online_flag), (container.get("command"), sorted(env))
    return online


# -- faults ------------------------------------------------------------------------------------------
# (after which task the apiserver dies, what the cluster must look like then). The last point is inside
# the restart task: killed once the template carries the new hash, while the module waits for the rollout.
HalfState = Callable[[Kube, str, dict[str, Any]], None]


def _nothing_written(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    assert kube.get_or_none(resource_path("", "v1", "configmaps", ns, RECORD_NAME)) is None, \
        "nothing may be recorded before the first write"
    assert detect(KubeSource(kube)).trustyai == original["trustyai"]


def _enabled(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    assert detect(KubeSource(kube)).trustyai_state == "Managed"
    entries = list(record(kube, ns).values())
    assert [(e.ref.kind, e.path, e.value) for e in entries] == [
        ("DataScienceCluster", ("spec", "components", "trustyai", "managementState"), "Removed")]


def _annotated_not_patched(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    cm = operator_config(kube, ns) or {}
    assert cm["metadata"]["annotations"][R.MANAGED_ANNOTATION] == "false"
    assert cm["data"][R.CM_ALLOW_ONLINE] == original["defaults"][R.CM_ALLOW_ONLINE]
    annotation = next(e for e in record(kube, ns).values() if e.ref.kind == "ConfigMap")
    # Recorded at the topmost missing ancestor: the ConfigMap had no annotations at all.
    assert annotation.path[-1] in (R.MANAGED_ANNOTATION, "annotations") and not annotation.present


def _recorded_not_patched(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    cm = operator_config(kube, ns) or {}
    assert cm["data"][R.CM_ALLOW_ONLINE] == original["defaults"][R.CM_ALLOW_ONLINE], "the patch must not have run"
    data = {e.path[-1]: e.value for e in record(kube, ns).values() if e.path[:1] == ("data",)}
    assert data == {k: original["defaults"][k] for k in (R.CM_ALLOW_ONLINE, R.CM_ALLOW_CODE)}


def _patched_not_restarted(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    cm = operator_config(kube, ns) or {}
    assert cm["data"][R.CM_ALLOW_ONLINE] == "true" and cm["data"][R.CM_ALLOW_CODE] == "true"
    assert LMES_HASH_ANNOTATION not in operator_template_annotations(kube, ns)


def _restart_started(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    assert LMES_HASH_ANNOTATION in operator_template_annotations(kube, ns)
    assert any(e.ref.kind == "Deployment" for e in record(kube, ns).values()), "restart recorded for revert"


def _dsc_recorded_not_patched(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    assert detect(KubeSource(kube)).dsc_eval == original["dsc_eval"], "the DSC patch must not have run"
    assert any(e.path[-1] in ("eval", "lmeval", "permitOnline") for e in record(kube, ns).values())


def _dsc_patched(kube: Kube, ns: str, original: dict[str, Any]) -> None:
    assert detect(KubeSource(kube)).dsc_eval == {"permitOnline": "allow", "permitCodeExecution": "allow"}


def _restart_hash_stamped(kube: Kube) -> bool:
    for ns in ("redhat-ods-applications", "opendatahub"):
        if LMES_HASH_ANNOTATION in operator_template_annotations(kube, ns):
            return True
    return False


RESTART_WAIT = "inside the restart task, waiting for the rollout"
CONFIGMAP_CHAIN: list[tuple[str, HalfState]] = [
    ("Detect | remember facts and plan", _nothing_written),
    ("Preflight | SelfSubjectAccessReviews for every verb this run will use", _nothing_written),
    ("Enable TrustyAI | set spec.components.trustyai.managementState to Managed", _enabled),
    ("Permissions | annotate trustyai-service-operator-config opendatahub.io/managed=false", _annotated_not_patched),
    ("Permissions | remember the prior lmes-allow-* values", _recorded_not_patched),
    ("Permissions | set lmes-allow-online / lmes-allow-code-execution", _patched_not_restarted),
    (RESTART_WAIT, _restart_started),
]
DSC_CHAIN: list[tuple[str, HalfState]] = [
    ("Enable TrustyAI | set spec.components.trustyai.managementState to Managed", _enabled),
    ("Permissions | remember the prior DSC eval.lmeval values", _dsc_recorded_not_patched),
    ("Permissions | set DSC eval.lmeval permitOnline / permitCodeExecution", _dsc_patched),
]


def _interrupted_bootstrap(plane: Any, point: str, workdir: Path) -> tuple[Fault, subprocess.CompletedProcess[str]]:
    kubeconfig = str(plane.kubeconfig)
    if point == RESTART_WAIT:
        with kill_apiserver_when(plane, _restart_hash_stamped, point) as fault:
            proc = cli("bootstrap", "--kubeconfig", kubeconfig)
    else:
        with kill_apiserver_after_task(plane, point, workdir) as fault:
            proc = cli("bootstrap", "--kubeconfig", kubeconfig)
    return fault, proc


@pytest.mark.parametrize(("profile", "chain"), [("rhoai-2.22", CONFIGMAP_CHAIN), ("rhoai-3.5", DSC_CHAIN)],
                         ids=["configmap-layer", "dsc-layer"])
def test_apiserver_killed_at_each_step_then_rerun_converges(new_controlplane: Any, tmp_path: Path, profile: str,
                                                            chain: list[tuple[str, HalfState]]) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, profile, "fresh") as sb:
        kube, ns = sb.kube, sb.namespace
        original = {"dsc_spec": sb.dsc()["spec"], "trustyai": detect(KubeSource(kube)).trustyai,
                    "dsc_eval": detect(KubeSource(kube)).dsc_eval, "defaults": dict(sb.release.lmes_defaults)}
        for index, (point, half_state) in enumerate(chain):
            fault, proc = _interrupted_bootstrap(new_controlplane, point, tmp_path / f"fault-{index}")
            assert fault.fired, f"the run never reached {point!r}: {proc.stdout}{proc.stderr}"
            line = assert_one_line_exit(proc, 3)
            assert "cannot reach the cluster" in line, line
            bring_the_apiserver_back(new_controlplane)
            half_state(kube, ns, original)

        converged = bootstrap(kubeconfig)
        assert converged.exit_code == 0, converged.clusters
        facts = detect(KubeSource(kube))
        assert (facts.effective_permissions.online, facts.effective_permissions.code_execution) == (True, True)
        assert sees_online(job_pod(kube, "after-faults"), sb.release), \
            "a new job must get the permissions the run reported"
        again = bootstrap(kubeconfig)
        assert again.exit_code == 0 and not changed_steps(again) and not again.clusters["cluster"].restarted

        undone = run(RunOptions("revert", kubeconfig=kubeconfig, timeout=600))
        assert undone.exit_code == 0, undone.clusters
        assert sb.dsc()["spec"] == original["dsc_spec"], "revert must restore the DSC exactly"
        cm = operator_config(kube, ns)
        if cm is not None:  # 2.17+: the platform leaves an annotated ConfigMap; ours must be gone
            assert R.MANAGED_ANNOTATION not in (cm["metadata"].get("annotations") or {})
            assert {k: cm["data"].get(k) for k in original["defaults"]} == original["defaults"]
        assert LMES_HASH_ANNOTATION not in operator_template_annotations(kube, ns)
        assert not record(kube, ns)
        assert not sb.failures(), sb.failures()


# -- the operator never becoming ready --------------------------------------------------------------
def test_operator_never_ready_times_out_naming_lme107(new_controlplane: Any) -> None:
    from lmeval_setup.sandbox.harness import running_sandbox

    # No kubelet: the platform creates the operator Deployment, but its pod never runs.
    with running_sandbox(new_controlplane, "rhoai-2.25", "fresh", simulators=("platform-operator",)) as sb:
        began = time.monotonic()
        proc = cli("bootstrap", "--kubeconfig", str(new_controlplane.kubeconfig), "--wait-timeout", "3")
        line = assert_one_line_exit(proc, 5)
        assert time.monotonic() - began < 120
        assert "TrustyAI ready not reached in 3s" in line, line
        assert "LME107 operator-unavailable" in line and "lmeval-setup doctor" in line, line
        selector = sb.kube.get(resource_path("apps", "v1", "deployments", sb.namespace, R.OPERATOR_DEPLOYMENT))[
            "spec"]["selector"]["matchLabels"]
        assert f"oc get pods -n {sb.namespace} -l " + ",".join(f"{k}={v}" for k, v in sorted(selector.items())) \
            in line, "where to look, with the Deployment's own selector"


# -- the platform reverting an unannotated ConfigMap (2.16) ---------------------------------------------
def test_legacy_platform_revert_is_warned_reported_and_reapplied(new_controlplane: Any) -> None:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-2.16", "fresh") as sb:
        kube, ns = sb.kube, sb.namespace
        first = cli("bootstrap", "--kubeconfig", kubeconfig)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "warning: this release's platform operator does not honour opendatahub.io/managed" in first.stdout

        rules = {f.rule_id for f in evaluate(collect(kube, Scope(all_namespaces=True))).findings}
        assert "LME104" in rules, rules

        sb.restart("platform-operator")  # 2.16 re-applies its manifests on (re)start: the edit is gone
        sb.wait_for(lambda: (operator_config(kube, ns) or {}).get("data", {}).get(R.CM_ALLOW_ONLINE) == "false",
                    "the platform to revert lmes-allow-online")
        assert not detect(KubeSource(kube)).effective_permissions.online

        again = bootstrap(kubeconfig)
        assert again.exit_code == 0, again.clusters
        assert "Permissions | set lmes-allow-online / lmes-allow-code-execution" in [
            s.split(": ", 1)[1] for s in changed_steps(again)], "the revert is detected and the values re-applied"
        # The running pod started with the values now re-applied (the hash bootstrap stamped matches):
        # no restart, and new jobs are online again.
        assert not again.clusters["cluster"].restarted
        assert (again.clusters["cluster"].plan or {}).get("warnings"), "and warned about again"
        assert sees_online(job_pod(kube, "after-platform-revert"), sb.release)


# -- new jobs see the permissions; a second run changes nothing (every profile) -------------------------
@pytest.mark.parametrize("profile", ["rhoai-2.16", "rhoai-2.22", "rhoai-2.25", "rhoai-3.0", "rhoai-3.3", "rhoai-3.5",
                                     "odh-2.35", "odh-3.5"])
def test_new_jobs_see_the_permissions_and_second_run_is_a_noop(new_controlplane: Any, profile: str) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, profile, "fresh") as sb:
        first = bootstrap(kubeconfig)
        assert first.exit_code == 0, first.clusters
        if sb.release.honours_managed_annotation:  # (2.16's platform re-applies the ConfigMap on any write)
            # A write that changes no start-up key (a label, by another field manager) is no reason to
            # restart: the old decider counted any managedFields time when no stamp existed (2.25+).
            sb.kube.merge_patch(resource_path("", "v1", "configmaps", sb.namespace, R.OPERATOR_CONFIGMAP),
                                {"metadata": {"labels": {"team": "evals"}}})
        second = bootstrap(kubeconfig)
        assert second.exit_code == 0 and not changed_steps(second), changed_steps(second)
        assert not second.clusters["cluster"].restarted
        assert sees_online(job_pod(sb.kube, "allowed"), sb.release), "allowOnline + permitted: online, no HF_*_OFFLINE"

        denied = bootstrap(kubeconfig, allow_online=False)
        assert denied.exit_code == 0, denied.clusters
        # Restart only where the release reads the permission at start-up (the ConfigMap layer).
        assert denied.clusters["cluster"].restarted == (sb.release.permission_layer == "configmap")
        assert not sees_online(job_pod(sb.kube, "denied"), sb.release), "--deny-online: the job gets the offline env"
        assert not sb.failures(), sb.failures()


def test_restart_is_what_makes_configmap_permissions_reach_new_jobs(new_controlplane: Any) -> None:
    """2.17-2.24: the operator reads lmes-* once per pod. The ConfigMap edited by hand (annotated, as the
    seed's procedure does) without a restart leaves new jobs offline; bootstrap sees the pod has not loaded
    the edit (or cannot tell: the same second), restarts it and nothing else, and the next job is online."""
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.scenarios import operator_configmap_path

    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-2.22", "fresh") as sb:
        kube = sb.kube
        kube.merge_patch(P.dsc_path(sb.release, P.DSC_NAME),
                         {"spec": {"components": {"trustyai": {"managementState": "Managed"}}}})
        sb.wait_for(lambda: detect(KubeSource(kube)).operator.available, "the operator to run", timeout=60)
        # A first job proves the operator pod has loaded its (shipped, offline) configuration.
        assert not sees_online(job_pod(kube, "before-edit"), sb.release)
        path = operator_configmap_path(sb.profile)
        kube.merge_patch(path, {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}})
        # A platform reconcile that read the ConfigMap before the annotation would put an edit made at once back
        # (a CI run met it: bootstrap then rightly patched the values too); the hand edit is made after it.
        sb.settle_platform()
        kube.merge_patch(path, {"data": {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}})
        assert not sees_online(job_pod(kube, "stale-operator"), sb.release), \
            "the running operator loaded the old values"

        result = bootstrap(kubeconfig)
        assert result.exit_code == 0, result.clusters
        restart_step = "Restart | restart the operator only if its pod has not loaded the current configuration"
        assert [s.split(": ", 1)[1] for s in changed_steps(result)] == [restart_step]
        assert result.clusters["cluster"].restarted
        assert sees_online(job_pod(kube, "restarted-operator"), sb.release), "new jobs still get the old values"


class StaleReconcile:
    """The platform's reconcile that read trustyai-service-operator-config before bootstrap annotated it: once
    bootstrap's lmes-allow-* patch lands, it applies the release's values with force, as the trustyai deploy
    action does (server-side apply, field manager `trustyai`). Only once: every later reconcile saw the
    annotation and skips the ConfigMap."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.path = kube, resource_path("", "v1", "configmaps", namespace, R.OPERATOR_CONFIGMAP)
        self.namespace = namespace
        self.stop = threading.Event()
        self.applied_over: dict[str, str] | None = None
        self.thread = threading.Thread(target=self._run, name="stale-reconcile", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            data = ((self.kube.get_or_none(self.path) or {}).get("data")) or {}
            if data.get(R.CM_ALLOW_ONLINE) == "true":
                break
        else:
            return
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": R.OPERATOR_CONFIGMAP, "namespace": self.namespace},
                "data": {R.CM_ALLOW_ONLINE: "false", R.CM_ALLOW_CODE: "false"}}
        self.kube.request("PATCH", self.path, body=json.dumps(body), content_type=APPLY_PATCH,
                          query={"fieldManager": "trustyai", "force": "true"})
        self.applied_over = data

    def __enter__(self) -> StaleReconcile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_values_a_platform_reconcile_in_flight_puts_back_are_patched_and_loaded_again(new_controlplane: Any) -> None:
    """2.17-2.24: a platform reconcile that read the ConfigMap before bootstrap's annotation applies the shipped
    lmes-allow-* over bootstrap's patch (the sandbox setup met it twice in CI). The restarted operator loads
    them. Bootstrap used to end there, failing its report (or passing, had the revert come after its last read);
    it now reads the ConfigMap again after the rollout, patches the values again, restarts again, and the next
    job is online."""
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-2.22", "fresh") as sb:
        with StaleReconcile(sb.kube, sb.namespace) as stale:
            result = bootstrap(kubeconfig)
        assert stale.applied_over is not None, "the stale reconcile never saw bootstrap's patch"
        assert result.exit_code == 0, result.clusters
        steps = [s.split(": ", 1)[1] for s in changed_steps(result)]
        assert "Restart | set lmes-allow-online / lmes-allow-code-execution again (the platform put them back)" \
            in steps, steps
        assert "Restart | restart the operator again to load them" in steps, steps
        data = (operator_config(sb.kube, sb.namespace) or {}).get("data") or {}
        assert (data[R.CM_ALLOW_ONLINE], data[R.CM_ALLOW_CODE]) == ("true", "true")
        assert sees_online(job_pod(sb.kube, "after-the-stale-reconcile"), sb.release)
        again = bootstrap(kubeconfig)
        assert again.exit_code == 0 and not changed_steps(again), changed_steps(again)


# -- a fleet of three releases, one command, in parallel -----------------------------------------------
FLEET = ("rhoai-2.16", "rhoai-2.25", "rhoai-3.5")


def _timed_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, datetime, datetime]]:
    """(host, task, start, end) of every task result, as runner's display callback timed them."""
    from lmeval_setup.bootstrap import runner as runner_module

    seen: list[tuple[str, str, datetime, datetime]] = []
    original = runner_module.EventCollector.__call__

    def record(self: Any, event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_ok", "runner_on_failed") and data.get("start") and data.get("end"):
            seen.append((str(data.get("host")), str(data.get("task")), datetime.fromisoformat(data["start"]),
                         datetime.fromisoformat(data["end"])))
        return original(self, event)

    monkeypatch.setattr(runner_module.EventCollector, "__call__", record)
    return seen


def test_fleet_of_three_releases_in_parallel(new_controlplane: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lmeval_setup.cli.main import cli as lmeval_setup_cli
    from lmeval_setup.sandbox.controlplane import ControlPlane

    with ExitStack() as stack:
        planes = [new_controlplane]
        for profile in FLEET[1:]:
            plane = ControlPlane(tmp_path / profile, new_controlplane.binary_dir)
            stack.enter_context(plane)
            planes.append(plane)
        boxes = {profile: stack.enter_context(sandbox(plane, profile, "fresh"))
                 for profile, plane in zip(FLEET, planes, strict=True)}
        hosts = {p.replace(".", "-"): {"lmeval_kubeconfig": str(plane.kubeconfig)}
                 for p, plane in zip(FLEET, planes, strict=True)}
        inventory = tmp_path / "fleet.yml"
        inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_connection": "local"}, "hosts": hosts}}))

        events = _timed_events(monkeypatch)
        began = time.monotonic()
        # In-process (the same `lmeval-setup bootstrap` command), so runner's events can be timed here.
        result = CliRunner().invoke(lmeval_setup_cli, ["bootstrap", "--inventory", str(inventory)])
        wall = time.monotonic() - began
        assert result.exit_code == 0, result.output

        # The per-cluster summary: each host with its release and its own counts.
        for profile, host in zip(FLEET, hosts, strict=True):
            title = next(line for line in result.output.splitlines() if line.startswith(f"{host}: "))
            assert boxes[profile].profile.version in title, (title, boxes[profile].profile.version)
        assert result.output.count("=> ok=") == 3, result.output
        for box in boxes.values():
            facts = detect(KubeSource(box.kube))
            assert facts.effective_permissions.online and facts.effective_permissions.code_execution

        # In parallel: some task ran on all three clusters at once, and the clusters' task time adds up to
        # more than the wall time of the whole run.
        by_task: dict[str, list[tuple[datetime, datetime]]] = {}
        for _host, task, start, end in events:
            by_task.setdefault(task.split(" : ", 1)[-1], []).append((start, end))
        overlapping = [task for task, spans in by_task.items() if len(spans) == 3
                       and max(s for s, _ in spans) < min(e for _, e in spans)]
        assert overlapping, "no task ran on the three clusters at the same time"
        busy = sum((end - start).total_seconds() for _, _, start, end in events)
        assert busy > wall, (busy, wall)
