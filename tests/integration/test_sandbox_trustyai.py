"""The simulated TrustyAI operator + kubelet against a real apiserver and kube-controller-manager.

Proves: a job whose `main` fails ends Complete/Failed with `exit status 1` from the driver's status line, in
the pod the operator builds; input validation fails before a pod exists; the operator reads `lmes-*`
once per operator pod (a ConfigMap edit takes effect only after the pod is replaced by the real ReplicaSet
controller); newer releases read the permissions per job with trustyai-dsc-config winning; deleting a job
deletes its pod and releases the finalizer.

What lm-eval makes of a job is not this module's business: its jobs' python has no lm-eval
(LMEVAL_SANDBOX_LM_EVAL=none), so every job fails at once, for the same reason. The simulated operator
with the real lm-eval (seed mistakes failing as lm-eval fails, a good job's results) is
test_sandbox_real_lmeval.py[simulated].
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from testsupport import require_controlplane_binaries, running_in_thread, wait_for

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform.releases import (
    DSC_CONFIGMAP,
    LMEVAL_GROUP,
    LMEVAL_VERSION,
    OPERATOR_CONFIGMAP,
    OPERATOR_DEPLOYMENT,
    PROFILES,
    Release,
)
from lmeval_setup.sandbox import driver_standin, realoperator
from lmeval_setup.sandbox.controlplane import ControlPlane
from lmeval_setup.sandbox.kubelet import Kubelet
from lmeval_setup.sandbox.podruntime import PodRuntime
from lmeval_setup.sandbox.trustyai_operator import FINALIZER, TrustyAIOperator

pytestmark = pytest.mark.controlplane

APPS_NS = "redhat-ods-applications"
BASE = "http://granite-predictor.private-ai-demo.svc.cluster.local:8080"
HF_TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"

# A minimal LMEvalJob CRD (the real schema is the profiles' business): status subresource, State column.
MINIMAL_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"lmevaljobs.{LMEVAL_GROUP}"},
    "spec": {
        "group": LMEVAL_GROUP,
        "names": {"kind": "LMEvalJob", "listKind": "LMEvalJobList", "plural": "lmevaljobs", "singular": "lmevaljob"},
        "scope": "Namespaced",
        "versions": [{
            "name": LMEVAL_VERSION, "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [{"name": "State", "type": "string", "jsonPath": ".status.state"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }}},
        }],
    },
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, Kube]]:
    """A control plane of our own: the CRD we install is cluster-scoped. Job pods run the stand-in driver
    as processes, over a python without lm-eval."""
    require_controlplane_binaries()
    if not PodRuntime.available():
        pytest.skip("Linux namespaces (unshare/nsenter as root) are not available: job containers cannot run")
    chosen = os.environ.get(realoperator.LM_EVAL_SWITCH)
    os.environ[realoperator.LM_EVAL_SWITCH] = "none"
    plane = ControlPlane(Path(tmp_path_factory.mktemp("trustyai-plane")))
    plane.start()
    kube = Kube.connect(str(plane.kubeconfig))
    kubelet = Kubelet(kube, None, ca=plane.ca, time_scale=0.25, workdir=plane.workdir,
                      process_resolvers=driver_standin.process_resolvers(plane.workdir))
    try:
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", MINIMAL_CRD)
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": APPS_NS}})
        with running_in_thread(kubelet.run):
            wait_for("LMEvalJob CRD served", lambda: kube.get_or_none(
                resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs")) is not None)
            yield plane, kube
    finally:
        if kubelet.runtime is not None:
            kubelet.runtime.teardown()
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace
        if chosen is None:
            os.environ.pop(realoperator.LM_EVAL_SWITCH, None)
        else:
            os.environ[realoperator.LM_EVAL_SWITCH] = chosen


def install_operator(kube: Kube, release: Release, data: dict[str, str]) -> None:
    """What the platform operator would deploy: the ConfigMap and the manager Deployment."""
    cms = resource_path("", "v1", "configmaps", APPS_NS)
    body = {"metadata": {"name": OPERATOR_CONFIGMAP}, "data": {**release.lmes_defaults, **data}}
    if kube.get_or_none(f"{cms}/{OPERATOR_CONFIGMAP}") is None:
        kube.create(cms, body)
    else:
        kube.replace(f"{cms}/{OPERATOR_CONFIGMAP}", body)
    labels = dict(release.operator_pod_labels)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": OPERATOR_DEPLOYMENT},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "manager", "image": "quay.io/trustyai/trustyai-service-operator:latest",
                                     "args": ["--leader-elect", "--enable-services", release.enable_services]}]},
        }},
    }
    deployments = resource_path("apps", "v1", "deployments", APPS_NS)
    if kube.get_or_none(f"{deployments}/{OPERATOR_DEPLOYMENT}") is None:
        kube.create(deployments, deployment)


def operator_pod(kube: Kube, release: Release) -> dict | None:
    selector = ",".join(f"{k}={v}" for k, v in sorted(release.operator_pod_labels.items()))
    pods = kube.get(resource_path("", "v1", "pods", APPS_NS), labelSelector=selector)["items"]
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp")]
    return running[0] if len(running) == 1 else None


@pytest.fixture
def operator_for(cluster: tuple[ControlPlane, Kube]) -> Iterator[Callable[..., TrustyAIOperator]]:
    _, kube = cluster
    running = ExitStack()

    def start(release: Release, **cm: str) -> TrustyAIOperator:
        install_operator(kube, release, {"lmes-pod-checking-interval": "1s", **cm})
        wait_for("operator pod running", lambda: operator_pod(kube, release))
        operator = TrustyAIOperator(kube, release)
        running.enter_context(running_in_thread(operator.run))
        wait_for("operator active", lambda: operator.options)
        return operator

    with running:
        yield start
    kube.delete(resource_path("apps", "v1", "deployments", APPS_NS, OPERATOR_DEPLOYMENT))
    wait_for("operator pods gone", lambda: not kube.get(resource_path("", "v1", "pods", APPS_NS))["items"])


@pytest.fixture
def namespace(cluster: tuple[ControlPlane, Kube]) -> str:
    _, kube = cluster
    name = f"eval-{uuid.uuid4().hex[:6]}"
    kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": name}})
    return name


def job_body(name: str, model: str, args: dict[str, str], tasks: list[str], **spec: Any) -> dict:
    return {
        "apiVersion": f"{LMEVAL_GROUP}/{LMEVAL_VERSION}", "kind": "LMEvalJob", "metadata": {"name": name},
        "spec": {"model": model, "modelArgs": [{"name": k, "value": v} for k, v in args.items()],
                 "taskList": {"taskNames": tasks}, "logSamples": True, **spec},
    }


def create_job(kube: Kube, namespace: str, body: dict) -> None:
    kube.create(resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace), body)


def get_job(kube: Kube, namespace: str, name: str) -> dict:
    return kube.get(resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace, name))


def completed(kube: Kube, namespace: str, name: str) -> Callable[[], dict | None]:
    def check() -> dict | None:
        status = get_job(kube, namespace, name).get("status") or {}
        return status if status.get("state") == "Complete" else None
    return check


def main_log(kube: Kube, namespace: str, pod: str, container: str = "main") -> str:
    return kube.pod_log(namespace, pod, container)


def env_of(kube: Kube, namespace: str, pod: str) -> dict[str, str]:
    main = kube.get(resource_path("", "v1", "pods", namespace, pod))["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in main.get("env") or []}


def test_a_failed_main_completes_the_job_in_the_pod_the_operator_builds(
    cluster: tuple[ControlPlane, Kube], operator_for: Callable[..., TrustyAIOperator], namespace: str
) -> None:
    _, kube = cluster
    release = PROFILES["rhoai-2.25"].release
    operator_for(release)
    kube.create(resource_path("", "v1", "configmaps", APPS_NS),
                {"metadata": {"name": DSC_CONFIGMAP}, "data": {"eval.lmeval.permitOnline": "true",
                                                               "eval.lmeval.permitCodeExecution": "false"}})
    try:
        good = job_body("good", "local-completions", {"model": "granite", "base_url": f"{BASE}/v1/completions",
                                                      "tokenizer": HF_TOKENIZER}, ["arc_easy"], allowOnline=True)
        create_job(kube, namespace, good)
        offline = job_body("offline", "local-completions", {"model": "granite", "base_url": f"{BASE}/v1/completions",
                                                            "tokenizer": HF_TOKENIZER}, ["arc_easy"])
        create_job(kube, namespace, offline)

        status = wait_for("good complete", completed(kube, namespace, "good"))
        assert (status["reason"], status["message"]) == ("Failed", "exit status 1")
        assert status["podName"] == "good"
        log = main_log(kube, namespace, "good")
        assert realoperator.NO_LM_EVAL_MESSAGE in log, log[-2000:]  # what ran, in its own words
        assert '"reason":"Failed","message":"exit status 1"' in log  # the driver's status line, read by the operator

        # The pod the operator built: offline unless asked for and permitted; flags as generateCmd/Args.
        offline_env = env_of(kube, namespace, "offline")
        assert offline_env["HF_HUB_OFFLINE"] == "1" and offline_env["TRANSFORMERS_OFFLINE"] == "1"
        assert "HF_HUB_OFFLINE" not in env_of(kube, namespace, "good")
        pod = kube.get(resource_path("", "v1", "pods", namespace, "good"))
        main = pod["spec"]["containers"][0]
        assert "--allow-online" in main["command"] and main["command"][-1] == "--"
        assert main["args"][:3] == ["python", "-m", "lm_eval"] and "--log_samples" in main["args"]
        assert main["args"][main["args"].index("--batch_size") + 1] == "8"  # lmes-default-batch-size
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "ta-lmes"
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "LMEvalJob"
        assert pod["spec"]["initContainers"][0]["name"] == "driver"
        # The driver exits a moment after it reported Complete (the job's status can come first); the stand-in
        # driver exits 0 once it has reported, whatever lm-eval's exit code was.
        wait_for("good pod Succeeded", lambda: kube.get(resource_path("", "v1", "pods", namespace, "good"))
                 ["status"].get("phase") == "Succeeded")
        assert FINALIZER in get_job(kube, namespace, "good")["metadata"]["finalizers"]
    finally:
        kube.delete(resource_path("", "v1", "configmaps", APPS_NS, DSC_CONFIGMAP))


def test_input_validation_fails_before_a_pod_exists(
    cluster: tuple[ControlPlane, Kube], operator_for: Callable[..., TrustyAIOperator], namespace: str
) -> None:
    _, kube = cluster
    operator_for(PROFILES["rhoai-2.22"].release)
    create_job(kube, namespace, job_body("empty-value", "local-completions",
                                         {"model": "granite", "base_url": ""}, ["arc_easy"]))
    create_job(kube, namespace, job_body("bad-batch", "local-completions", {"model": "granite"}, ["arc_easy"],
                                         batchSize="eight"))
    status = wait_for("validation failure", completed(kube, namespace, "empty-value"))
    assert status["reason"] == "Failed"
    assert status["message"] == ("Input validation failed: invalid model arguments: model argument[1] value: argument "
                                 "value contains invalid characters (only alphanumeric, ., _, /, :, -, and spaces "
                                 "allowed)")
    status = wait_for("batch failure", completed(kube, namespace, "bad-batch"))
    assert status["message"] == ("Input validation failed: invalid batch size: batch size must be 'auto', 'auto:N', "
                                 "or a positive integer")
    assert kube.get_or_none(resource_path("", "v1", "pods", namespace, "empty-value")) is None


def test_lmes_values_change_only_after_the_operator_pod_restarts(
    cluster: tuple[ControlPlane, Kube], operator_for: Callable[..., TrustyAIOperator], namespace: str
) -> None:
    _, kube = cluster
    release = PROFILES["rhoai-2.22"].release  # permissions come from the ConfigMap, read at start-up
    operator_for(release)
    online_job = {"model": "granite", "base_url": f"{BASE}/v1/completions", "tokenizer": HF_TOKENIZER}
    create_job(kube, namespace, job_body("before", "local-completions", online_job, ["arc_easy"], allowOnline=True))
    wait_for("before scheduled", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "before")))
    assert env_of(kube, namespace, "before")["HF_HUB_OFFLINE"] == "1"
    first = operator_pod(kube, release)
    assert first is not None
    wait_for("operator log line", lambda: "online mode not allowed by the operator" in main_log(
        kube, APPS_NS, first["metadata"]["name"], "manager"))

    cm_path = resource_path("", "v1", "configmaps", APPS_NS, OPERATOR_CONFIGMAP)
    kube.merge_patch(cm_path, {"data": {"lmes-allow-online": "true", "lmes-default-batch-size": "4"}})
    create_job(kube, namespace, job_body("no-restart", "local-completions", online_job, ["arc_easy"], allowOnline=True))
    wait_for("no-restart scheduled", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "no-restart")))
    assert env_of(kube, namespace, "no-restart")["HF_HUB_OFFLINE"] == "1"
    args = kube.get(resource_path("", "v1", "pods", namespace, "no-restart"))["spec"]["containers"][0]["args"]
    assert args[args.index("--batch_size") + 1] == "8"

    kube.delete(resource_path("", "v1", "pods", APPS_NS, first["metadata"]["name"]))
    wait_for("new operator pod", lambda: (p := operator_pod(kube, release)) and p["metadata"]["uid"] !=
             first["metadata"]["uid"])
    create_job(kube, namespace, job_body("after", "local-completions", online_job, ["arc_easy"], allowOnline=True))
    wait_for("after scheduled", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "after")))
    assert "HF_HUB_OFFLINE" not in env_of(kube, namespace, "after")
    main = kube.get(resource_path("", "v1", "pods", namespace, "after"))["spec"]["containers"][0]
    assert "--allow-online" in main["command"]
    assert main["args"][main["args"].index("--batch_size") + 1] == "4"
    assert wait_for("after completes", completed(kube, namespace, "after"))["message"] == "exit status 1"


def test_newer_releases_read_permissions_per_job_and_dsc_config_wins(
    cluster: tuple[ControlPlane, Kube], operator_for: Callable[..., TrustyAIOperator], namespace: str
) -> None:
    _, kube = cluster
    operator_for(PROFILES["rhoai-3.0"].release, **{"lmes-allow-online": "true"})
    cms = resource_path("", "v1", "configmaps", APPS_NS)
    kube.create(cms, {"metadata": {"name": DSC_CONFIGMAP}, "data": {"eval.lmeval.permitOnline": "false"}})
    try:
        args = {"model": "granite", "base_url": f"{BASE}/v1/completions", "tokenizer": HF_TOKENIZER}
        create_job(kube, namespace, job_body("denied", "local-completions", args, ["arc_easy"], allowOnline=True))
        wait_for("denied pod", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "denied")))
        assert env_of(kube, namespace, "denied")["HF_HUB_OFFLINE"] == "1"
        # No restart needed on these releases: the next job sees the DSC's new answer.
        kube.merge_patch(f"{cms}/{DSC_CONFIGMAP}", {"data": {"eval.lmeval.permitOnline": "true"}})
        create_job(kube, namespace, job_body("allowed", "local-completions", args, ["arc_easy"], allowOnline=True))
        wait_for("allowed pod", lambda: kube.get_or_none(resource_path("", "v1", "pods", namespace, "allowed")))
        assert "HF_HUB_OFFLINE" not in env_of(kube, namespace, "allowed")
        assert wait_for("denied fails", completed(kube, namespace, "denied"))["message"] == "exit status 1"
    finally:
        kube.delete(f"{cms}/{DSC_CONFIGMAP}")


def test_deleting_a_job_deletes_its_pod_and_releases_the_finalizer(
    cluster: tuple[ControlPlane, Kube], operator_for: Callable[..., TrustyAIOperator], namespace: str
) -> None:
    _, kube = cluster
    operator_for(PROFILES["rhoai-2.22"].release)
    create_job(kube, namespace, job_body("doomed", "local-completions", {"model": "granite"}, ["arc_easy"],
                                         pod={"container": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}))
    pod_path = resource_path("", "v1", "pods", namespace, "doomed")
    wait_for("pod created", lambda: kube.get_or_none(pod_path))
    status = get_job(kube, namespace, "doomed")["status"]
    assert status["state"] == "Scheduled"  # stuck: the pod cannot be scheduled (no GPU)
    kube.delete(resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace, "doomed"))
    wait_for("job gone", lambda: kube.get_or_none(
        resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace, "doomed")) is None)
    wait_for("pod gone", lambda: kube.get_or_none(pod_path) is None)
