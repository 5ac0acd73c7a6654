"""podservices: the wrapper a sandbox job's `main` runs under (see lmeval_setup/sandbox/podservices.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lmeval_setup.sandbox.podservices import model_services, plan_json, wrap_argv


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_the_command_dies_with_the_wrapper() -> None:
    """A killed pod process must not leave its driver behind (it would wait for --shutdown for ever)."""
    plan = json.dumps({"models": [], "hub": ""})
    wrapper = subprocess.Popen(wrap_argv(("sleep", "300"), plan), stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _children(wrapper.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (child,) = _children(wrapper.pid)
        wrapper.send_signal(signal.SIGKILL)
        wrapper.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


# A wrapper that is killed between fork and its child's prctl(PR_SET_PDEATHSIG), every time: the child's
# preexec_fn waits until the wrapper is gone before it arms the death signal.
LATE_CHILD = """
import os, subprocess, time
from lmeval_setup.sandbox.podservices import die_with
wrapper = os.getpid()
arm = die_with(wrapper)
def after_the_wrapper_died():
    while os.getppid() == wrapper:
        time.sleep(0.01)
    arm()
subprocess.Popen(["sleep", "300"], preexec_fn=after_the_wrapper_died)
"""


def test_the_command_dies_with_a_wrapper_killed_before_the_death_signal_was_set() -> None:
    """PR_SET_PDEATHSIG covers only a parent that dies after it is set. Before: a wrapper killed while
    its child was between fork and prctl (a loaded machine: test_the_command_dies_with_the_wrapper failed
    2 of 30 runs) left the command running, reparented, for good."""
    wrapper = subprocess.Popen([sys.executable, "-c", LATE_CHILD])
    child = 0
    try:
        deadline = time.monotonic() + 20
        while not _children(wrapper.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = _children(wrapper.pid)
        wrapper.send_signal(signal.SIGKILL)
        wrapper.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
        if child and _alive(child):  # the orphan of a failed run
            os.kill(child, signal.SIGKILL)


def test_exit_code_and_environment_reach_the_command(tmp_path: Path) -> None:
    plan = plan_json(model_services([]), tmp_path)
    (tmp_path / "gated.json").write_text("[]")
    script = "import os,sys; print(os.environ['HF_ENDPOINT'], os.environ['LMEVAL_SANDBOX_HOSTS']); sys.exit(3)"
    done = subprocess.run(wrap_argv((sys.executable, "-c", script), plan), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3
    endpoint, hosts = done.stdout.split(" ", 1)
    assert endpoint.startswith("http://huggingface.co") and json.loads(hosts)["huggingface.co"] == "127.0.0.1"


def _isvc(name: str, namespace: str, port: int = 8080) -> dict:
    return {"metadata": {"name": name, "namespace": namespace},
            "status": {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local:{port}"}}


def test_every_namespace_s_inference_services_resolve_as_cluster_dns_would() -> None:
    """A job in namespace ci-eval reaches granite in private-ai-demo by its Service name (the provision
    tests' job, which the templated replay let pass while the real lm-eval could not resolve the name)."""
    services = model_services([_isvc("granite", "private-ai-demo"), _isvc("granite", "ci-eval")], "ci-eval")
    by_namespace = {s.host.split(".")[1]: s for s in services}
    other, own = by_namespace["private-ai-demo"], by_namespace["ci-eval"]
    assert other.names == ("granite-predictor.private-ai-demo.svc.cluster.local",
                           "granite-predictor.private-ai-demo.svc", "granite-predictor.private-ai-demo")
    assert own.names[-1] == "granite-predictor"  # the bare name only from the Service's own namespace
    assert other.address != own.address and other.port == own.port == 8080  # no port clash in the pod


def test_the_wrapper_serves_each_inference_service_at_its_address(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a free port on the service's loopback address
        probe.bind(("127.0.1.1", 0))
        port = probe.getsockname()[1]
    plan = plan_json(model_services([_isvc("granite", "private-ai-demo", port)], "ci-eval"), tmp_path)
    (tmp_path / "gated.json").write_text("[]")
    script = ("import json,os,urllib.request; hosts = json.loads(os.environ['LMEVAL_SANDBOX_HOSTS']); "
              f"address = hosts['granite-predictor.private-ai-demo']; assert 'granite-predictor' not in hosts; "
              f"print(json.load(urllib.request.urlopen(f'http://{{address}}:{port}/v1/models', timeout=20))"
              "['data'][0]['id'])")
    done = subprocess.run(wrap_argv((sys.executable, "-c", script), plan), capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "granite"), done.stderr
