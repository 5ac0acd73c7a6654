"""Pods as processes (sandbox/podruntime.py), the real operator's process resolvers and the job image's python.

The namespace tests run real `unshare`/`nsenter` and skip where Linux namespaces are not available.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import processsupport
import pytest

from lmeval_setup.platform.releases import OPERATOR_DEPLOYMENT
from lmeval_setup.sandbox import realoperator
from lmeval_setup.sandbox.podruntime import (
    DEFAULT_PATH,
    PodRuntime,
    ProcessSpec,
    container_environment,
    in_directory,
    pid_namespaces_available,
    volume_directories,
)

needs_namespaces = pytest.mark.skipif(not PodRuntime.available(),
                                      reason="Linux namespaces (unshare/nsenter as root) are not available")


def pod(uid: str = "uid-1", namespace: str = "team-a", mounts: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "namespace": namespace, "name": "job", "labels": {"app": "x"}},
            "spec": {"nodeName": "sandbox-node",
                     "containers": [{"name": "main", "volumeMounts": [{"mountPath": m} for m in mounts]}]},
            "status": {"podIP": "10.128.0.9"}}


class FakeKube:
    def __init__(self, objects: dict[str, dict]) -> None:
        self.objects = objects

    def get_or_none(self, path: str) -> dict | None:
        return self.objects.get(path)


def test_container_environment_resolves_like_the_kubelet() -> None:
    secret = {"data": {"token": base64.b64encode(b"s3cr3t").decode()}}
    config = {"data": {"mode": "fast", "level": "2"}}
    kube = FakeKube({"/api/v1/namespaces/team-a/secrets/creds": secret,
                     "/api/v1/namespaces/team-a/configmaps/settings": config})
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "A", "value": "one"},
            {"name": "B", "value": "$(A)-two $(UNKNOWN)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        ],
    }
    env = container_environment(kube, pod(), container)
    assert env["PATH"] == DEFAULT_PATH and env["HOSTNAME"] == "job"
    assert (env["A"], env["B"]) == ("one", "one-two $(UNKNOWN)")
    assert (env["POD"], env["IP"], env["APP"]) == ("job", "10.128.0.9", "x")
    assert (env["TOKEN"], env["MODE"], env["CFG_level"]) == ("s3cr3t", "fast", "2")


def test_volume_directories_are_the_mount_paths_under_opt() -> None:
    body = pod(mounts=("/opt/app-root/src/bin", "/opt/app-root/src/output", "/etc/certs", "/opt/../etc"))
    assert volume_directories(body) == ["/opt/app-root/src/bin", "/opt/app-root/src/output"]


def test_in_directory_changes_directory_after_entering_the_namespace() -> None:
    """nsenter --wd opens the directory on the host (before setns); env --chdir runs inside."""
    assert in_directory("/opt/app-root/src", ("driver", "--get-status")) == [
        "env", "--chdir=/opt/app-root/src", "--", "driver", "--get-status"]


@needs_namespaces
def test_a_pod_sandbox_has_its_own_opt_run_and_loopback() -> None:
    runtime, lines = PodRuntime(), []
    body = pod(mounts=("/opt/app-root/src/output",))
    script = ("pwd; ls /opt/app-root/src; cat /run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
              "ip -o link | cut -d: -f2; echo to-stderr >&2; exit 3")
    try:
        running = runtime.start(body, "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH},
                                                          working_dir="/opt/app-root/src"), lines.append)
        code = wait_exit(running)
    finally:
        runtime.stop_all()
    assert code == 3
    assert [line.strip() for line in lines] == ["/opt/app-root/src", "output", "team-a", "lo", "to-stderr"]


@needs_namespaces
def test_the_log_keeps_the_order_stdout_and_stderr_were_written_in() -> None:
    """One log in write order, as a runtime's reader that keeps up. Before: two pipes, each read by a
    thread of its own, so the log had the order the threads got to run in (a loaded machine put a
    stderr line ahead of the stdout line written before it; here two bursts of lines come out in blocks)."""
    runtime, lines = PodRuntime(), []
    script = "i=0; while [ $i -lt 100 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
    try:
        running = runtime.start(pod(), "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                                lines.append)
        assert wait_exit(running) == 0
    finally:
        runtime.stop_all()
    assert lines == [line for i in range(100) for line in (f"out{i}", f"err{i}")]


@needs_namespaces
def test_stopping_a_pod_ends_its_processes_and_sandbox() -> None:
    runtime = PodRuntime()
    running = runtime.start(pod(), "main", ProcessSpec(("sleep", "600"), {"PATH": DEFAULT_PATH}), lambda _: None)
    sandbox = runtime.sandbox(pod())
    runtime.stop_pod("uid-1")
    assert wait_exit(running) == 128 + 15  # SIGTERM
    sandbox.process.wait(5)
    assert not runtime.has_sandbox("uid-1")


# A container whose main process has children of its own, as the driver has lm-eval and lm-eval its workers:
# the shell dies of SIGTERM, but its background children (no PR_SET_PDEATHSIG: it is not inherited) would not.
TREE = "sleep 600 & sleep 600 & echo started; wait"


def start_tree(runtime: PodRuntime, script: str = TREE, uid: str = "uid-1") -> tuple[Any, set[Any]]:
    started: list[str] = []
    running = runtime.start(pod(uid=uid), "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                            started.append)
    tree = processsupport.wait_for_descendants(running.pid, 3)
    assert len(tree) >= 3, tree
    return running, tree


@needs_namespaces
def test_stopping_a_pod_leaves_no_process_of_its_containers() -> None:
    """Deleting a pod kills its containers' whole process trees, not only their main processes."""
    runtime = PodRuntime()
    try:
        running, tree = start_tree(runtime)
        runtime.stop_pod("uid-1")
        assert wait_exit(running) == 128 + 15
        assert processsupport.survivors(tree) == set()
    finally:
        runtime.teardown()


@needs_namespaces
def test_a_container_ends_with_its_main_process() -> None:
    """A main process that exits leaves nothing running behind it (its children held the log open, too)."""
    runtime = PodRuntime()
    try:
        running, tree = start_tree(runtime, "sleep 600 & sleep 600 & echo started; sleep 0.5; exit 4")
        assert wait_exit(running) == 4
        assert processsupport.survivors(tree) == set()
    finally:
        runtime.teardown()


@needs_namespaces
def test_teardown_kills_what_ignores_sigterm_and_waits_for_it() -> None:
    """The kubelet's (and the reaper's) teardown: SIGTERM, then SIGKILL after the grace; done when it returns."""
    runtime = PodRuntime()
    running, tree = start_tree(runtime, "trap '' TERM; sleep 600 & sleep 600 & echo started; wait; wait; sleep 600")
    second, second_tree = start_tree(runtime, uid="uid-2")
    began = time.monotonic()
    runtime.teardown(grace=0.5)
    assert time.monotonic() - began < 30  # the SIGTERM-proof shell did not hold it up for its 600 s
    assert {p for p in tree | second_tree if processsupport.alive(p)} == set()
    assert running.process.returncode is not None and second.process.returncode is not None
    assert not runtime.has_sandbox("uid-1") and not runtime.has_sandbox("uid-2")


# After SIGKILL a process is not gone until the kernel has unmapped its memory: 1 GiB takes ~0.1 s here. SIGTERM
# is ignored (inherited), so the SIGKILL after the grace is what ends it.
SLOW_TO_DIE = ("trap '' TERM; "
               "python3 -c 'import time; held = b\"x\" * (1 << 30); print(\"held\", flush=True); time.sleep(600)' & "
               "sleep 600 & echo started; wait")


@needs_namespaces
def test_teardown_returns_only_once_a_process_slow_to_die_is_gone() -> None:
    """Done when it returns, however long a process takes to die. Teardown waited for each container's main
    process and for unshare, not for the rest of the pod: a CI run found one of test_teardown_kills_what_ignores_
    sigterm_and_waits_for_it's processes still alive, and a process holding memory is alive for ~0.1 s after its
    SIGKILL every time (this test failed 3 runs of 3 before)."""
    runtime = PodRuntime()
    lines: list[str] = []
    running = runtime.start(pod(), "main", ProcessSpec(("sh", "-c", SLOW_TO_DIE), {"PATH": DEFAULT_PATH}),
                            lines.append)
    deadline = time.monotonic() + 30
    while "held" not in "".join(lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "held" in "".join(lines), lines
    tree = processsupport.wait_for_descendants(running.pid, 3)
    runtime.teardown(grace=0.2)
    assert {p for p in tree if processsupport.alive(p)} == set()


def _processes_running(argv: list[str]) -> set[Any]:
    """The live processes on this machine whose command line is exactly `argv`."""
    wanted = "\0".join(argv) + "\0"
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                matches = (entry / "cmdline").read_text() == wanted
            except OSError:
                continue
            me = processsupport.identity(int(entry.name)) if matches else None
            if me is not None and processsupport.alive(me):
                found.add(me)
    return found


needs_pid_namespaces = pytest.mark.skipif(not pid_namespaces_available(),
                                          reason="unshare may not make PID namespaces here: pods are process groups")


@needs_pid_namespaces
def test_deleting_a_pod_kills_what_left_its_process_group() -> None:
    """A process that double-forks and calls setsid leaves its container's process group (and session), so
    signalling the group misses it; each pod is a PID namespace, and deleting the pod kills its init, with it
    every process of the pod. Before: the escaped `sleep` outlived its pod, reparented to the host's init."""
    escaped_argv = ["sleep", f"{600 + random.random():.6f}"]  # unique: tests run in parallel on one machine
    script = f"setsid sh -c '{shlex.join(escaped_argv)} & exit 0'; echo started; exec sleep 600"
    runtime, escaped = PodRuntime(), set()
    try:
        running = runtime.start(pod(), "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                                lambda _: None)
        deadline = time.monotonic() + 10
        while not escaped and time.monotonic() < deadline:
            escaped = _processes_running(escaped_argv)
            time.sleep(0.05)
        assert len(escaped) == 1, "the double-forked, setsid'd process did not start"
        (pid, _), = escaped
        assert os.getpgid(pid) != running.pid  # it really left the container's group
        runtime.stop_pod("uid-1")
        wait_exit(running)
        assert processsupport.survivors(escaped, timeout=5) == set()
    finally:
        runtime.teardown()
        for pid, _ in processsupport.survivors(escaped, timeout=0):  # never leave it behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@needs_pid_namespaces
def test_a_container_in_a_pid_namespace_ends_its_own_way_on_sigterm() -> None:
    """The launcher that puts a container in its pod's PID namespace outlives the group's SIGTERM, so the
    container's process ends as it chooses (here exit 7 from its trap) and the kubelet reports that, not the
    launcher's death; the process sees itself inside the pod (not init: the pause process is)."""
    runtime, lines = PodRuntime(), []
    script = "trap 'echo bye; exit 7' TERM; echo pid=$$; while :; do sleep 0.1; done"
    try:
        running = runtime.start(pod(), "main", ProcessSpec(("sh", "-c", script), {"PATH": DEFAULT_PATH}),
                                lines.append)
        deadline = time.monotonic() + 10
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.exec_namespaces == ("mount", "net", "pid")
        running.stop(grace=5)
        assert wait_exit(running) == 7
    finally:
        runtime.teardown()
    assert lines[0] != "pid=1" and int(lines[0].removeprefix("pid=")) < 100, lines  # a pod-local PID
    assert lines[-1] == "bye"


def wait_exit(running: Any, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = running.poll()
        if code is not None:
            return int(code)
        time.sleep(0.05)
    raise AssertionError("process did not exit")


# -- the real operator's processes ---------------------------------------------------------------------
def operator_pod() -> dict[str, Any]:
    return {"metadata": {"name": f"{OPERATOR_DEPLOYMENT}-5d9c-x", "generateName": f"{OPERATOR_DEPLOYMENT}-5d9c-",
                         "namespace": "redhat-ods-applications", "uid": "u"}, "spec": {}}


def test_manager_runs_out_of_cluster_with_lmes_only() -> None:
    container = {"name": "manager", "command": ["/manager"], "args": ["--leader-elect", "--enable-services", "LMES"],
                 "env": [{"name": "APPLICATIONS_NAMESPACE", "value": "redhat-ods-applications"}]}
    spec = realoperator.manager_process(operator_pod(), container, Path("/cache/manager"), Path("/wd/kubeconfig"))
    assert spec is not None and spec.host_network and spec.namespaces == ("mount",)
    assert spec.argv == ("/cache/manager", "--enable-services", "LMES", "--metrics-bind-address", "0",
                         "--health-probe-bind-address", "0")
    assert spec.env["APPLICATIONS_NAMESPACE"] == "redhat-ods-applications"
    assert (spec.env["OTEL_SDK_DISABLED"], spec.env["KUBECONFIG"]) == ("true", "/wd/kubeconfig")
    other = {**operator_pod(), "metadata": {**operator_pod()["metadata"], "generateName": "something-else-"}}
    assert realoperator.manager_process(other, container, Path("/m"), Path("/k")) is None


def test_driver_containers_run_the_built_driver() -> None:
    init = {"name": "driver", "command": ["/bin/driver", "--copy", "/opt/app-root/src/bin/driver"]}
    copy = realoperator.driver_copy_process(pod(), init, Path("/cache/driver"))
    assert copy is not None and copy.argv == ("/cache/driver", "--copy", "/opt/app-root/src/bin/driver")
    main = {"name": "main", "command": ["/opt/app-root/src/bin/driver", "--output-path", "/opt/app-root/src/output"],
            "args": ["python", "-m", "lm_eval", "--tasks", "arc_easy"],
            "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}]}
    run = realoperator.driver_main_process(pod(), main, Path("/py"))
    assert run is not None and run.namespaces == ("mount", "net") and run.working_dir == "/opt/app-root/src"
    assert run.argv[:3] == ("/opt/app-root/src/bin/driver", "--output-path", "/opt/app-root/src/output")
    assert run.env["PATH"].startswith("/opt/app-root/bin:/py:") and run.env["HF_HUB_OFFLINE"] == "1"
    assert realoperator.driver_main_process(pod(), {"name": "main", "command": ["/manager"]}, Path("/py")) is None


def test_operator_mode_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(realoperator.ENV_SWITCH, "Simulated")
    assert realoperator.mode("rhoai-3.5") == "simulated"
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")
    assert realoperator.mode("rhoai-2.16") == "real"
    monkeypatch.setenv(realoperator.ENV_SWITCH, "bogus")
    assert realoperator.mode("rhoai-3.5") == "real" and realoperator.mode("odh-3.5") == "real"
    monkeypatch.delenv(realoperator.ENV_SWITCH)
    assert realoperator.mode("rhoai-2.22") == "real"  # every profile's default (REAL_BY_DEFAULT)


def test_lm_eval_is_real_by_default_with_the_simulated_operator(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """Issue 12: where the job image venv is built, jobs run the real lm-eval under the simulated operator too;
    `none` (or its older names templates, standin) or no job image: a python without lm-eval, never a replay."""
    from lmeval_setup.sandbox import driver_standin

    venv = tmp_path / "venv" / "bin" / "python"
    monkeypatch.setattr(realoperator, "job_venv_python", lambda: venv)
    monkeypatch.delenv(realoperator.LM_EVAL_SWITCH, raising=False)
    assert driver_standin.lm_eval_mode() == "real"
    assert len(driver_standin.process_resolvers(tmp_path)) == 1
    monkeypatch.undo()
    for value in ("none", "templates", "Standin"):
        monkeypatch.setenv(realoperator.LM_EVAL_SWITCH, value)
        assert realoperator.job_venv_python() is None and driver_standin.lm_eval_mode() == "none"
        assert len(driver_standin.process_resolvers(tmp_path)) == 1  # the driver still runs, without lm-eval
    monkeypatch.setattr(realoperator, "job_venv_python", lambda: None)  # no job image
    monkeypatch.setenv(realoperator.LM_EVAL_SWITCH, "real")
    assert driver_standin.lm_eval_mode() == "none"


def test_without_the_job_image_lm_eval_is_missing_not_replayed(tmp_path: Path) -> None:
    """No job image venv: `python -m lm_eval` fails as in an image without lm-eval, for every job alike (before,
    a template replay decided from the job's arguments which failure to print)."""
    shim = realoperator.job_python_dir(tmp_path, None) / "python"
    done = subprocess.run([str(shim), "-m", "lm_eval", "--model", "local-completions", "--tasks", "arc_easy"],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", realoperator.NO_LM_EVAL_MESSAGE + "\n")


def test_job_python_answers_the_device_probe_and_runs_the_venv(tmp_path: Path) -> None:
    """The driver's --detect-device runs `python -c 'import torch; ...'`: the sandbox's job venv has no torch,
    so the shim answers as CPU-only torch does; everything else reaches the venv (or, without one, this python)."""
    probe = "import torch; print('=={}:{}=='.format(torch.cuda.is_available(), torch.cuda.device_count()));"
    for venv in (Path(sys.executable), None):
        shim = realoperator.job_python_dir(tmp_path / str(venv is None), venv) / "python"
        answer = subprocess.run([str(shim), "-c", probe], capture_output=True, text=True, timeout=30)
        assert (answer.returncode, answer.stdout) == (0, "==False:0==\n")
        plain = subprocess.run([str(shim), "-c", "print(6 * 7)"], capture_output=True, text=True, timeout=30)
        assert plain.stdout == "42\n"
        assert ("No module named lm_eval" in shim.read_text()) == (venv is None)


@needs_namespaces
def test_each_pod_has_its_own_tmp_where_the_kept_host_paths_stay_visible(tmp_path: Path) -> None:
    """The 2.16 driver listens on /tmp/ta-lmes-driver.sock: two job pods sharing the host's /tmp made the second
    driver fail (its status server gone, a Go deadlock at --shutdown). The sandbox's own directory stays."""
    import tempfile

    kept = Path(tempfile.mkdtemp(prefix="g2-kept-", dir="/tmp"))
    (kept / "kubeconfig").write_text("visible")
    runtime = PodRuntime(keep_tmp=(kept,))
    script = f"test ! -e /tmp/mine && echo $0 > /tmp/mine && sleep 0.3 && cat /tmp/mine {kept}/kubeconfig"
    try:
        runs = []
        for uid in ("pod-a", "pod-b"):
            lines: list[str] = []
            spec = ProcessSpec(("sh", "-c", script, uid), {"PATH": DEFAULT_PATH})
            runs.append((runtime.start(pod(uid=uid), "main", spec, lines.append), lines))
        for (running, lines), uid in zip(runs, ("pod-a", "pod-b"), strict=True):
            assert wait_exit(running) == 0, lines
            assert lines == [uid, "visible"]
        assert not Path("/tmp/mine").exists()
    finally:
        runtime.stop_all()
        (kept / "kubeconfig").unlink()
        kept.rmdir()
