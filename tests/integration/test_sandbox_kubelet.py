"""The simulated kubelet against the real apiserver and kube-controller-manager.

Proves: pods/log through the apiserver reaches our loopback kubelet endpoint; pods run through init
containers to Succeeded/Failed with real-looking statuses; unschedulable pods stay Pending with the
scheduler's condition and event; image-pull and config errors show as waiting reasons; deleting a
Deployment's pod makes the real ReplicaSet controller create a new one that we run.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testsupport import running_in_thread, wait_for

from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.sandbox.driverlog import DRIVER_BIN
from lmeval_setup.sandbox.kubelet import IMAGE_PULL_ERROR_ANNOTATION, Kubelet
from lmeval_setup.sandbox.scripts import ContainerScript, LogLine

pytestmark = pytest.mark.controlplane


def echo_script(pod: dict, container: dict) -> ContainerScript | None:
    """A test behaviour: containers whose image starts with 'echo/' print their args and exit."""
    image = str(container.get("image", ""))
    if not image.startswith("echo/"):
        return None
    code = int(image.rsplit(":", 1)[-1]) if image.rsplit(":", 1)[-1].isdigit() else 0
    lines = tuple(LogLine(0.05 * (i + 1), str(a)) for i, a in enumerate(container.get("args") or []))
    return ContainerScript(lines, exit_code=code, linger=0.2)


def ticks_script(pod: dict, container: dict) -> ContainerScript | None:
    """A test behaviour: containers whose image starts with 'ticks/' log "tick N" every 0.25 s, for minutes."""
    if not str(container.get("image", "")).startswith("ticks/"):
        return None
    return ContainerScript(tuple(LogLine(0.25 * i, f"tick {i}") for i in range(1200)), forever=True)


@pytest.fixture(scope="module")
def kubelet(controlplane: Any, kube: Kube) -> Iterator[Kubelet]:
    node = Kubelet(kube, None, ca=controlplane.ca, capacity={"cpu": "4", "memory": "8Gi"})
    node.register(echo_script)
    node.register(ticks_script)
    with running_in_thread(node.run):
        wait_for("node registered", lambda: kube.get_or_none(resource_path("", "v1", "nodes", name=node.node_name)))
        yield node


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"kubelet-{uuid.uuid4().hex[:6]}"
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": name}})
    yield name
    kube.delete(resource_path("", "v1", "namespaces", name=name))


def pod_body(name: str, containers: list[dict], init: list[dict] | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                            "spec": {"containers": containers, "restartPolicy": "Never", **spec}}
    if init:
        body["spec"]["initContainers"] = init
    return body


def read_log(kube: Kube, ns: str, pod: str, container: str, **query: Any) -> str:
    """GET pods/log as kubectl does (Accept: application/json, */*): the apiserver refuses text/plain."""
    path = resource_path("", "v1", "pods", ns, pod, "log")
    return str(kube.request("GET", path, query={"container": container, **query},
                            accept="application/json, */*", raw=True))


def get_pod(kube: Kube, ns: str, name: str) -> dict:
    return kube.get(resource_path("", "v1", "pods", ns, name))


def phase_is(kube: Kube, ns: str, name: str, phase: str) -> Callable[[], dict | None]:
    def check() -> dict | None:
        pod = get_pod(kube, ns, name)
        return pod if pod.get("status", {}).get("phase") == phase else None
    return check


def test_node_registered_with_kubelet_endpoint(kube: Kube, kubelet: Kubelet) -> None:
    node = kube.get(resource_path("", "v1", "nodes", name=kubelet.node_name))
    status = node["status"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == kubelet.port
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


def test_pod_runs_init_then_main_and_logs_come_through_the_apiserver(
    kube: Kube, kubelet: Kubelet, namespace: str
) -> None:
    body = pod_body(
        "hello",
        [{"name": "main", "image": "echo/hello:0", "args": ["first line", "second line", "done"]}],
        init=[{"name": "driver", "image": "echo/init:0", "args": ["copied"]}],
    )
    kube.create(resource_path("", "v1", "pods", namespace), body)
    pod = wait_for("Succeeded", phase_is(kube, namespace, "hello", "Succeeded"))
    status = pod["status"]
    init = status["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    main = status["containerStatuses"][0]
    assert main["state"]["terminated"]["exitCode"] == 0
    assert main["imageID"].endswith(main["imageID"].split("@sha256:")[-1]) and "@sha256:" in main["imageID"]
    assert main["containerID"].startswith("cri-o://")
    assert status["startTime"] and status["podIP"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodCompleted"

    assert read_log(kube, namespace, "hello", "main") == "first line\nsecond line\ndone\n"
    assert read_log(kube, namespace, "hello", "main", tailLines=1) == "done\n"
    assert read_log(kube, namespace, "hello", "driver") == "copied\n"
    assert read_log(kube, namespace, "hello", "main", limitBytes=5) == "first"
    first = read_log(kube, namespace, "hello", "main", timestamps="true").splitlines()[0]
    assert first.endswith(" first line") and first[:4].isdigit() and "T" in first.split(" ")[0]


def test_failing_container_makes_the_pod_failed(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    body = pod_body("boom", [{"name": "main", "image": "echo/boom:3", "args": ["oops"]}])
    kube.create(resource_path("", "v1", "pods", namespace), body)
    pod = wait_for("Failed", phase_is(kube, namespace, "boom", "Failed"))
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")


def test_gpu_request_the_node_lacks_stays_pending_unschedulable(
    kube: Kube, kubelet: Kubelet, namespace: str
) -> None:
    gpu = {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    kube.create(resource_path("", "v1", "pods", namespace),
                pod_body("needs-gpu", [{"name": "main", "image": "echo/x:0", "resources": gpu}]))

    def unschedulable() -> dict | None:
        pod = get_pod(kube, namespace, "needs-gpu")
        conds = {c["type"]: c for c in pod.get("status", {}).get("conditions") or []}
        scheduled = conds.get("PodScheduled")
        return scheduled if scheduled and scheduled["status"] == "False" else None

    condition = wait_for("PodScheduled=False", unschedulable)
    assert condition["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition["message"]
    assert not get_pod(kube, namespace, "needs-gpu")["spec"].get("nodeName")

    def failed_scheduling() -> list[dict]:
        # The scheduler's event recorder is asynchronous: on a cluster the event may follow the condition.
        events = kube.get(resource_path("", "v1", "events", namespace))["items"]
        return [e for e in events if e["reason"] == "FailedScheduling"]

    events = wait_for("a FailedScheduling event", failed_scheduling)
    assert all("Insufficient nvidia.com/gpu" in e["message"] for e in events)


def test_image_pull_failure_and_missing_secret_are_waiting_reasons(
    kube: Kube, kubelet: Kubelet, namespace: str
) -> None:
    kube.create(resource_path("", "v1", "pods", namespace),
                pod_body("badimage", [{"name": "main", "image": "quay.io/nobody/doesnotexist:1"}]))
    annotated = pod_body("annotated", [{"name": "main", "image": "echo/fine:0"}])
    annotated["metadata"]["annotations"] = {IMAGE_PULL_ERROR_ANNOTATION: "main"}
    kube.create(resource_path("", "v1", "pods", namespace), annotated)
    env = [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "model-token", "key": "token"}}}]
    kube.create(resource_path("", "v1", "pods", namespace),
                pod_body("nosecret", [{"name": "main", "image": "echo/x:0", "args": ["started"], "env": env}]))

    def waiting(name: str, reason: str) -> Callable[[], dict | None]:
        def check() -> dict | None:
            statuses = get_pod(kube, namespace, name).get("status", {}).get("containerStatuses") or []
            state = statuses[0]["state"].get("waiting", {}) if statuses else {}
            return state if state.get("reason") == reason else None
        return check

    wait_for("ImagePullBackOff", waiting("badimage", "ImagePullBackOff"))
    wait_for("annotated pull error", waiting("annotated", "ImagePullBackOff"))
    config = wait_for("CreateContainerConfigError", waiting("nosecret", "CreateContainerConfigError"))
    assert config["message"] == 'secret "model-token" not found'
    with pytest.raises(ApiError) as err:
        read_log(kube, namespace, "nosecret", "main")
    assert 'container "main" in pod "nosecret" is waiting to start: CreateContainerConfigError' in str(err.value)

    # The kubelet re-checks: a Secret without the key changes the message, the right key starts it.
    secrets = resource_path("", "v1", "secrets", namespace)
    kube.create(secrets, {"metadata": {"name": "model-token"}, "stringData": {"other": "x"}})
    wait_for("missing key message", lambda: waiting("nosecret", "CreateContainerConfigError")().get("message", "")
             .startswith("couldn't find key token in Secret"))
    kube.merge_patch(f"{secrets}/model-token", {"stringData": {"token": "not-logged"}})
    wait_for("started once the key exists", phase_is(kube, namespace, "nosecret", "Succeeded"))
    assert read_log(kube, namespace, "nosecret", "main") == "started\n"


def test_a_job_main_nothing_runs_is_not_made_up(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    """A TrustyAI job pod's `main` (the driver running lm-eval) that no process resolver runs here stays Waiting
    in CreateContainerError, saying why, with no log. Before, the kubelet played a template replay decided from
    the job's arguments: a made-up lm-eval traceback that the doctor then diagnosed from the same facts."""
    main = {"name": "main", "image": "quay.io/trustyai/ta-lmes-job:latest",
            "command": [DRIVER_BIN, "--output-path", "/opt/app-root/src/output", "--"],
            "args": ["python", "-m", "lm_eval", "--model", "local-completions", "--model_args",
                     "model=granite,base_url=http://granite/v1", "--tasks", "arc_easy"]}
    init = [{"name": "driver", "image": "quay.io/trustyai/ta-lmes-driver:latest",
             "command": ["/bin/driver", "--copy", DRIVER_BIN]}]
    kube.create(resource_path("", "v1", "pods", namespace), pod_body("job", [main], init))

    def waiting() -> dict | None:
        statuses = get_pod(kube, namespace, "job").get("status", {}).get("containerStatuses") or []
        state = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return state if state.get("reason") == "CreateContainerError" else None

    state = wait_for("CreateContainerError", waiting)
    assert "no process resolver for the TrustyAI job image" in state["message"], state
    init_status = get_pod(kube, namespace, "job")["status"]["initContainerStatuses"][0]
    assert init_status["state"]["terminated"]["exitCode"] == 0  # the driver copied itself
    with pytest.raises(ApiError) as err:
        read_log(kube, namespace, "job", "main")
    assert "is waiting to start: CreateContainerError" in str(err.value)


def test_deleting_a_deployment_pod_gets_a_new_running_pod(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    labels = {"control-plane": "controller-manager"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "manager"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "manager", "image": "quay.io/example/op:1"}]}}},
    }
    kube.create(resource_path("apps", "v1", "deployments", namespace), deployment)
    pods_path = resource_path("", "v1", "pods", namespace)

    def running_pod() -> dict | None:
        for pod in kube.get(pods_path, labelSelector="control-plane=controller-manager")["items"]:
            if pod.get("status", {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp"):
                return pod
        return None

    first = wait_for("first operator pod running", running_pod, timeout=60)
    started = first["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert first["status"]["containerStatuses"][0]["ready"] is True
    kube.delete(f"{pods_path}/{first['metadata']['name']}")

    def replacement() -> dict | None:
        pod = running_pod()
        return pod if pod and pod["metadata"]["uid"] != first["metadata"]["uid"] else None

    second = wait_for("replacement pod running", replacement, timeout=60)
    assert second["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] >= started
    wait_for("old pod gone", lambda: kube.get_or_none(f"{pods_path}/{first['metadata']['name']}") is None)


def test_kube_pod_log_reads_through_the_apiserver(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    """Kube.pod_log itself (what the doctor uses), proxied by the real apiserver to our kubelet."""
    kube.create(resource_path("", "v1", "pods", namespace),
                pod_body("viaclient", [{"name": "main", "image": "echo/x:0", "args": ["hello from main"]}]))
    wait_for("Succeeded", phase_is(kube, namespace, "viaclient", "Succeeded"))
    assert kube.pod_log(namespace, "viaclient", "main") == "hello from main\n"


def test_kube_pod_log_since_seconds_keeps_only_the_recent_lines(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    """What the lost-poll recovery's incremental reads of the manager's log rely on (platform/lost_poll.py)."""
    kube.create(resource_path("", "v1", "pods", namespace),
                pod_body("ticker", [{"name": "main", "image": "ticks/x:0"}]))
    wait_for("ten seconds of ticks", lambda: "tick 40\n" in kube.pod_log(namespace, "ticker", "main"), timeout=60)

    recent = kube.pod_log(namespace, "ticker", "main", since_seconds=5).splitlines()
    everything = kube.pod_log(namespace, "ticker", "main").splitlines()

    # Ticks 0-19 were logged in the pod's first 5 s, at least 5 s before tick 40 was seen: never in the last 5 s.
    assert recent and all(int(line.split()[1]) >= 20 for line in recent), recent
    assert everything[0] == "tick 0"
    start = everything.index(recent[0])
    assert everything[start:start + len(recent)] == recent, "the recent lines are the log's, in its order"


def tree_process(pod: dict, container: dict) -> Any:
    """A test process resolver: containers whose image starts with 'tree/' run a shell with two children
    of its own (as the driver runs lm-eval, and lm-eval its helpers)."""
    from lmeval_setup.sandbox.podruntime import DEFAULT_PATH, ProcessSpec

    if not str(container.get("image", "")).startswith("tree/"):
        return None
    return ProcessSpec(("sh", "-c", "sleep 600 & sleep 600 & echo started; wait"), {"PATH": DEFAULT_PATH})


def test_deleting_a_running_pod_leaves_no_process_of_it(kube: Kube, kubelet: Kubelet, namespace: str) -> None:
    """Issue 12: a job pod's processes (the driver, lm-eval and whatever lm-eval starts) die with the pod."""
    import processsupport

    if kubelet.runtime is None:
        pytest.skip("Linux namespaces (unshare/nsenter as root) are not available for pods as processes")
    kubelet.process_resolvers.append(tree_process)
    try:
        kube.create(resource_path("", "v1", "pods", namespace),
                    pod_body("tree", [{"name": "main", "image": "tree/job:1"}]))
        wait_for("Running", phase_is(kube, namespace, "tree", "Running"))
        uid = get_pod(kube, namespace, "tree")["metadata"]["uid"]
        running = kubelet.runtime.process(uid, "main")
        assert running is not None
        tree = processsupport.wait_for_descendants(running.pid, 3)
        assert len(tree) >= 3, tree
        kube.delete(resource_path("", "v1", "pods", namespace, "tree"))
        wait_for("pod gone", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "tree")) is None)
        assert processsupport.survivors(tree) == set()
    finally:
        kubelet.process_resolvers.remove(tree_process)


def test_a_container_is_ready_no_sooner_than_its_readiness_probe_delay(kube: Kube, kubelet: Kubelet,
                                                                         namespace: str) -> None:
    """As a kubelet, which probes no sooner than initialDelaySeconds: the container runs at once, the pod and its
    Deployment become Ready / available only after the delay (the real operator's manager reads its options in a
    runnable beside its controller; a cluster's probe delay keeps those first moments from whoever waits)."""
    delay = 3
    labels = {"app": "probed"}
    container = {"name": "manager", "image": "quay.io/example/op:1",
                 "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}, "initialDelaySeconds": delay}}
    kube.create(resource_path("apps", "v1", "deployments", namespace), {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "probed"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}})
    pods_path = resource_path("", "v1", "pods", namespace)

    def running() -> dict | None:
        pods = kube.get(pods_path, labelSelector="app=probed")["items"]
        return next((p for p in pods if p.get("status", {}).get("phase") == "Running"), None)

    pod = wait_for("pod running", running, timeout=60, every=0.1)
    seen_running = time.monotonic()
    status = pod["status"]["containerStatuses"][0]
    assert status["started"] is True and status["ready"] is False, status
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "False"

    def ready() -> dict | None:
        current = kube.get(f"{pods_path}/{pod['metadata']['name']}")
        conditions = {c["type"]: c for c in current["status"]["conditions"]}
        return current if conditions["Ready"]["status"] == "True" else None

    now_ready = wait_for("pod ready", ready, timeout=30, every=0.1)
    waited = time.monotonic() - seen_running
    started = dt.datetime.fromisoformat(status["state"]["running"]["startedAt"].replace("Z", "+00:00"))
    became = {c["type"]: c for c in now_ready["status"]["conditions"]}["Ready"]["lastTransitionTime"]
    became_at = dt.datetime.fromisoformat(became.replace("Z", "+00:00"))
    # One-second timestamps: the transition is at least delay - 1 s after the start the status reports.
    assert (became_at - started).total_seconds() >= delay - 1, (started, became_at)
    assert waited < delay + 5, waited  # written when due, not at the next slow sweep
    wait_for("deployment available", lambda: (kube.get(resource_path("apps", "v1", "deployments", namespace,
                                                                      "probed")).get("status") or {})
             .get("availableReplicas") == 1, timeout=30)
