"""A KServe predictor the apiserver can reach: the vLLM stand-in behind a Service, as on a cluster.

`doctor --fix` asks a served model for its GET /v1/models (the `root` names the Hugging Face repo when
vLLM pulled the model itself) through the apiserver's service proxy,
/api/v1/namespaces/NS/services/<name>-predictor:8080/proxy/v1/models, the way it reaches a predictor on a
cluster. The job pods' stand-ins (podservices.py) live in the pods' own network namespaces, out of the
apiserver's reach; and the apiserver proxies only to what a cluster would have:
- Endpoints whose address is not loopback (validation refuses 127.0.0.0/8 and ::1), so the stand-in
  listens on this machine's own non-loopback address (the source address of its default route; nothing
  is sent to find it) on an ephemeral port, and answers only clients on this machine's addresses;
- a targetRef naming a Pod whose status.podIPs hold that address: Pod `<name>-predictor-standin`, left
  unscheduled for a scheduler nobody runs (no kubelet runs it, PodGC leaves unscheduled pods alone), its
  status set Running and Ready with that address, as a host-network pod's;
- Service `<name>-predictor` without a selector, the InferenceService URL's port (named `http`) to the
  stand-in's, and its Endpoints; kube-controller-manager's mirroring controller adds the EndpointSlice.

    with served_predictor(kube, isvc, model="ibm-granite/granite-3.1-8b-instruct") as predictor:
        ...  # predictor.server.requests_seen: what reached the stand-in

Without a non-loopback IPv4 address (a machine with loopback only) `host_address()` is None and
`served_predictor` raises PrerequisiteError: callers skip with that message.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import urlsplit

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path
from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig

# A scheduler nobody runs: the stand-in's Pod is never bound, so neither the sandbox kubelet nor PodGC
# touches it.
SCHEDULER = "sandbox-host-network"
PORT_NAME = "http"
STANDIN_LABEL = "sandbox.lmeval-setup.io/predictor-standin"


@dataclass
class Predictor:
    server: ModelServer
    service: str
    _: KW_ONLY
    namespace: str
    address: str  # where the stand-in listens (this machine's non-loopback address), also the Pod's IP
    port: int  # the Service's port (the InferenceService URL's)

    @property
    def proxy_path(self) -> str:
        """The apiserver's service-proxy path to the stand-in's /v1/models, as doctor --fix asks it."""
        return f"/api/v1/namespaces/{self.namespace}/services/{self.service}:{self.port}/proxy/v1/models"


def host_address() -> str | None:
    """This machine's own non-loopback IPv4 address: the source of its default route (a UDP connect sends
    nothing); None when there is none."""
    for documentation_net in ("198.51.100.1", "203.0.113.1"):  # TEST-NET-2/3: only the route is looked up
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((documentation_net, 9))
            except OSError:
                continue
            address = str(probe.getsockname()[0])
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


@contextmanager
def served_predictor(kube: Kube, isvc: JSON, *, model: str | None = None) -> Iterator[Predictor]:
    """Serve `isvc`'s predictor (its name as the served-model name, `model` as vLLM's --model) behind its
    Service until the block ends; the Pod, Service and Endpoints are deleted afterwards."""
    address = host_address()
    if address is None:
        raise PrerequisiteError("no non-loopback address on this machine: the apiserver proxies only to those")
    meta = isvc["metadata"]
    name, namespace = str(meta["name"]), str(meta.get("namespace") or "default")
    url = urlsplit(str((isvc.get("status") or {}).get("url") or ""))
    service = (url.hostname or f"{name}-predictor").split(".")[0]
    config = ModelServerConfig(served_model_name=name, model=model,
                               clients=frozenset({address, "127.0.0.1"}))
    server = ModelServer(config, host=address)
    pod_name = f"{service}-standin"
    created: list[str] = []
    try:
        created += _create_pod(kube, namespace, pod_name, address, name)
        created += _create_service(kube, namespace, service, url.port or 80, server.port, address, pod_name)
        yield Predictor(server, service, namespace=namespace, address=address, port=url.port or 80)
    finally:
        for path in reversed(created):
            with suppress(ApiError):
                kube.delete(path)
        server.stop()


def _create_pod(kube: Kube, namespace: str, name: str, address: str, isvc_name: str) -> list[str]:
    pods = resource_path("", "v1", "pods", namespace)
    kube.create(pods, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {STANDIN_LABEL: "true", "serving.kserve.io/inferenceservice": isvc_name}},
        "spec": {"schedulerName": SCHEDULER, "hostNetwork": True,
                 "containers": [{"name": "kserve-container", "image": "vllm-standin"}]},
    })
    kube.merge_patch(f"{pods}/{name}/status", {"status": {
        "phase": "Running", "podIP": address, "podIPs": [{"ip": address}],
        "conditions": [{"type": "Ready", "status": "True"}]}})
    return [f"{pods}/{name}"]


def _create_service(kube: Kube, namespace: str, service: str, port: int, target: int, address: str,
                    pod_name: str) -> list[str]:
    services = resource_path("", "v1", "services", namespace)
    kube.create(services, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": namespace},
        "spec": {"ports": [{"name": PORT_NAME, "port": port, "targetPort": target, "protocol": "TCP"}]},
    })
    endpoints = resource_path("", "v1", "endpoints", namespace)
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service, "namespace": namespace},
        "subsets": [{"addresses": [{"ip": address, "targetRef": {"kind": "Pod", "name": pod_name,
                                                                  "namespace": namespace}}],
                     "ports": [{"name": PORT_NAME, "port": target, "protocol": "TCP"}]}],
    }
    kube.create(endpoints, body)
    # the Endpoints go first: deleting the Service would leave the mirrored EndpointSlice to the controller
    return [f"{services}/{service}", f"{endpoints}/{service}"]
