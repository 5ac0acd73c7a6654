"""pods/exec through the real apiserver to the sandbox kubelet, and containers as real processes.

Proves: `kubectl exec` (WebSocket, kubectl's default, and SPDY, what client-go's NewSPDYExecutor and
so the TrustyAI controller use) reaches kubelet-stream at the node's address and port, runs the
command inside the pod's own mount and network namespaces and returns its output, stdin and exit
code; a container run as a process has its log, its exit code and its environment from the real
process, and exec joins that process; pods/log still works through the same port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testsupport import running_in_thread, wait_for

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.sandbox.controlplane import kubectl_path
from lmeval_setup.sandbox.kubelet import Kubelet
from lmeval_setup.sandbox.podruntime import DEFAULT_PATH, PodRuntime, ProcessSpec, stream_binary
from lmeval_setup.sandbox.scripts import RUN_FOREVER, ContainerScript

pytestmark = pytest.mark.controlplane


def require_exec() -> None:
    missing = []
    if stream_binary() is None:
        missing.append("kubelet-stream is not built (make controlplane)")
    if not PodRuntime.available():
        missing.append("Linux namespaces (unshare/nsenter as root) are not available")
    if missing:
        message = "; ".join(missing)
        if os.environ.get("LMEVAL_REQUIRE_CONTROLPLANE") and stream_binary() is None:
            pytest.fail(message)
        pytest.skip(message)


def sleeper(pod: dict, container: dict) -> ContainerScript | None:
    return RUN_FOREVER if str(container.get("image", "")).startswith("sleep/") else None


def shell_process(pod: dict, container: dict) -> ProcessSpec | None:
    """Images `proc/...`: the container's args run under sh as a real process."""
    if not str(container.get("image", "")).startswith("proc/"):
        return None
    env = {"PATH": DEFAULT_PATH, **{e["name"]: e.get("value", "") for e in container.get("env") or []}}
    return ProcessSpec(("sh", "-c", " ".join(container.get("args") or [])), env, working_dir="/opt/app-root/src")


@pytest.fixture(scope="module")
def kubelet(controlplane: Any, kube: Kube) -> Iterator[Kubelet]:
    require_exec()
    node = Kubelet(kube, None, ca=controlplane.ca, process_resolvers=[shell_process],
                   workdir=controlplane.workdir, node_name="exec-node")
    node.register(sleeper)
    with running_in_thread(node.run):
        wait_for("node registered", lambda: kube.get_or_none(resource_path("", "v1", "nodes", name=node.node_name)))
        yield node
    kube.delete(resource_path("", "v1", "nodes", name=node.node_name))


@pytest.fixture(scope="module")
def namespace(kube: Kube, kubelet: Kubelet) -> Iterator[str]:
    name = f"exec-{uuid.uuid4().hex[:6]}"
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": name}})
    yield name
    kube.delete(resource_path("", "v1", "namespaces", name=name))


def phase_of(kube: Kube, ns: str, name: str, phase: str) -> Callable[[], dict | None]:
    def reached() -> dict | None:
        pod = kube.get(resource_path("", "v1", "pods", ns, name))
        return pod if pod.get("status", {}).get("phase") == phase else None
    return reached


def run_pod(kube: Kube, kubelet: Kubelet, ns: str, name: str, containers: list[dict], phase: str = "Running") -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, "restartPolicy": "Never", "nodeName": kubelet.node_name}}
    kube.create(resource_path("", "v1", "pods", ns), body)
    return wait_for(f"{name} {phase}", phase_of(kube, ns, name, phase), timeout=30)


def kubectl(controlplane: Any, *args: str, websocket: bool = True, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": DEFAULT_PATH, "HOME": str(controlplane.workdir), "KUBECONFIG": str(controlplane.kubeconfig)}
    if not websocket:
        env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = "false"  # the SPDY path, as client-go's NewSPDYExecutor
    return subprocess.run([str(kubectl_path()), *args], capture_output=True, text=True, env=env, input=stdin,
                          timeout=60)


@pytest.fixture(scope="module")
def sleeping_pod(kube: Kube, kubelet: Kubelet, namespace: str) -> str:
    run_pod(kube, kubelet, namespace, "sleeper", [{"name": "main", "image": "sleep/forever",
                                                   "env": [{"name": "GREETING", "value": "hello from the spec"}]}])
    return "sleeper"


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "spdy"])
def test_kubectl_exec_returns_output_and_exit_code(controlplane: Any, namespace: str, sleeping_pod: str,
                                                   websocket: bool) -> None:
    done = kubectl(controlplane, "exec", "-n", namespace, sleeping_pod, "-c", "main", "--",
                   "sh", "-c", "echo out; echo err >&2; exit 7", websocket=websocket)
    assert done.returncode == 7, done.stderr
    assert done.stdout == "out\n"
    assert "err\n" in done.stderr

    ok = kubectl(controlplane, "exec", "-n", namespace, sleeping_pod, "--", "sh", "-c", 'echo "$GREETING"',
                 websocket=websocket)
    assert (ok.returncode, ok.stdout) == (0, "hello from the spec\n"), ok.stderr


def test_exec_passes_stdin(controlplane: Any, namespace: str, sleeping_pod: str) -> None:
    done = kubectl(controlplane, "exec", "-i", "-n", namespace, sleeping_pod, "--", "tr", "a-z", "A-Z",
                   stdin="piped through\n")
    assert (done.returncode, done.stdout) == (0, "PIPED THROUGH\n"), done.stderr


def test_exec_runs_in_the_pods_own_namespaces(controlplane: Any, namespace: str, sleeping_pod: str) -> None:
    """/opt/app-root/src exists, the service-account namespace file names the pod's namespace, and the
    network has only loopback, up: two pods can each listen on 127.0.0.1:18080 (the driver's port)."""
    inside = kubectl(controlplane, "exec", "-n", namespace, sleeping_pod, "--", "sh", "-c",
                     "test -d /opt/app-root/src && cat /run/secrets/kubernetes.io/serviceaccount/namespace "
                     "&& echo && ip -o link | cut -d: -f2")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.split() == [namespace, "lo"]


def test_two_pods_listen_on_the_same_port(controlplane: Any, kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    serve = (f"exec {sys.executable} -c 'import socket,time; s=socket.socket(); "
             "s.bind((\"127.0.0.1\",18080)); s.listen(); time.sleep(600)'")
    for name in ("listener-a", "listener-b"):
        run_pod(kube, kubelet, namespace, name, [{"name": "main", "image": "proc/listen", "args": [serve]}])
    for name in ("listener-a", "listener-b"):
        probe = kubectl(controlplane, "exec", "-n", namespace, name, "--", sys.executable, "-c",
                        "import socket; socket.create_connection(('127.0.0.1', 18080), 5); print('connected')")
        assert (probe.returncode, probe.stdout) == (0, "connected\n"), probe.stderr
        pod = kube.get(resource_path("", "v1", "pods", namespace, name))
        assert pod["status"]["containerStatuses"][0]["state"].get("running"), "one listener lost the port"


def test_process_container_log_exit_code_and_exec_into_it(controlplane: Any, kube: Kube, kubelet: Kubelet,
                                                          namespace: str) -> None:
    """The log, the exit code and the environment are the process's; exec joins the process; once it has
    exited (its sidecar keeps the pod Running), exec into it is refused by the kubelet, as CRI-O does."""
    run_pod(kube, kubelet, namespace, "proc", [
        {"name": "main", "image": "proc/sh", "env": [{"name": "MARK", "value": "m-42"}],
         "args": ["echo started $MARK; echo to-stderr >&2; echo $$ > /opt/app-root/src/pid; "
                  "while [ ! -e /opt/app-root/src/stop ]; do sleep 0.1; done; exit 3"]},
        {"name": "side", "image": "sleep/forever"},
    ])
    seen = kubectl(controlplane, "exec", "-n", namespace, "proc", "-c", "main", "--", "sh", "-c",
                   'cat pid; echo "$MARK"')
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split()[1] == "m-42"  # the container's env, in its working directory
    # The sidecar shares the pod's mount namespace: it stops the main container.
    kubectl(controlplane, "exec", "-n", namespace, "proc", "-c", "side", "--", "touch", "/opt/app-root/src/stop")

    def main_terminated() -> dict | None:
        statuses = kube.get(resource_path("", "v1", "pods", namespace, "proc"))["status"]["containerStatuses"]
        return next((c["state"]["terminated"] for c in statuses if c["name"] == "main"
                     and "terminated" in c["state"]), None)

    terminated = wait_for("main terminated", main_terminated, timeout=30)
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    log = kubectl(controlplane, "logs", "-n", namespace, "proc", "-c", "main")
    assert sorted(log.stdout.splitlines()) == ["started m-42", "to-stderr"], log.stderr

    after = kubectl(controlplane, "exec", "-n", namespace, "proc", "-c", "main", "--", "true")
    assert after.returncode != 0 and "container is not created or running" in after.stderr, after.stderr


def test_exec_fail_hook_refuses_the_named_command_after_the_first_n(controlplane: Any, kube: Kube,
                                                                    kubelet: Kubelet, namespace: str) -> None:
    """The runtime's exec-fail hook (pod annotation): execs whose command line has the words succeed N times,
    then the kubelet refuses them with the runtime's error, which reaches the client through the real
    apiserver (SPDY, as the TrustyAI controller execs); any other command is still served."""
    from lmeval_setup.sandbox.kubelet import EXEC_FAIL_ANNOTATION, EXEC_FAILED_MESSAGE

    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "flaky-exec", "annotations": {EXEC_FAIL_ANNOTATION: "--get-status after 1"}},
            "spec": {"containers": [{"name": "main", "image": "sleep/forever"}], "restartPolicy": "Never",
                     "nodeName": kubelet.node_name}}
    kube.create(resource_path("", "v1", "pods", namespace), body)
    wait_for("flaky-exec Running", phase_of(kube, namespace, "flaky-exec", "Running"), timeout=30)

    def status_exec() -> subprocess.CompletedProcess[str]:  # the controller's command line, over SPDY
        return kubectl(controlplane, "exec", "-n", namespace, "flaky-exec", "-c", "main", "--",
                       "/bin/sh", "-c", "echo driver --get-status", websocket=False)

    first = status_exec()
    assert (first.returncode, first.stdout) == (0, "driver --get-status\n"), first.stderr
    for _ in range(2):
        refused = status_exec()
        assert refused.returncode != 0 and EXEC_FAILED_MESSAGE in refused.stderr, refused.stderr
    other = kubectl(controlplane, "exec", "-n", namespace, "flaky-exec", "-c", "main", "--", "sh", "-c",
                    "echo driver --shutdown", websocket=False)
    assert (other.returncode, other.stdout) == (0, "driver --shutdown\n"), other.stderr
