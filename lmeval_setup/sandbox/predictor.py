"""KServe's predictor Services for the sandbox's InferenceServices, backed by a vLLM stand-in the apiserver reaches.

`doctor --fix` asks a served model for its GET /v1/models (the `root` names the Hugging Face repo when vLLM
pulled the model itself) through the apiserver's service proxy, the way it reaches a predictor on a
cluster. The simulator `KServeController` (runner.SIMULATORS: "kserve-controller") gives every RawDeployment
InferenceService what KServe's controller gives it, as far as that lookup can see:
- Service `<name>-predictor` exactly as KServe's RawDeployment reconciler creates it
  (opendatahub-io/kserve pkg/controller/v1beta1/inferenceservice/reconcilers/service/service_reconciler.go,
  createDefaultSvc): selector `app: isvc.<name>-predictor`, one port named after the container's port ("http"
  when unnamed, as the vLLM runtime's 8080 is) with port 80 (CommonDefaultHttpPort) and targetPort 8080, the
  serving-cert annotation, owned by the InferenceService; headless (clusterIP None), as RHOAI configures
  KServe (serviceClusterIPNone), which is why the InferenceService URL names the pod's port 8080;
- a vLLM stand-in (modelserver.py) serving the InferenceService's name (the runtime's --served-model-name) with
  vLLM's --model as `root` (`vllm_model_argument`).

What differs from a cluster, and why: the stand-in is a thread on this machine, not a pod with an IP of its
own. The apiserver proxies only to Endpoints whose address is not loopback (validation refuses 127.0.0.0/8 and
::1) and that name a Pod holding that address in status.podIPs, so the stand-in listens on this machine's own
non-loopback address (the source address of its default route; nothing is sent to find it) on an ephemeral
port, answers only clients on this machine's addresses, and Pod `<name>-predictor-standin` (left unscheduled
for a scheduler nobody runs: no kubelet runs it, PodGC leaves unscheduled pods alone) carries that address as
a host-network pod would. An ephemeral port, because every sandbox on this machine shares that one address:
the Endpoints kube-controller-manager would derive from a selected pod (address:8080, the targetPort) would
clash between sandboxes and between models. So the stand-in Pod does not carry the selector's label, and the
simulator writes the address and port into the Endpoints object the endpoints controller created for the
Service (what the apiserver's service proxy reads), and writes them again if anything clears them.

Without a non-loopback IPv4 address (a machine with loopback only) `host_address()` is None: the Services are
still created, no stand-in serves them, and the lookup finds nothing (doctor --fix then falls back to what the
InferenceService's spec says).
"""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import suppress
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.errors import ClusterError
from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path
from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig
from lmeval_setup.sandbox.podservices import ANNOTATION_PREFIX  # the api-key annotation the pods' stand-ins read

log = logging.getLogger("lmeval_setup.sandbox.predictor")

# A scheduler nobody runs: the stand-in's Pod is never bound, so neither the sandbox kubelet nor PodGC
# touches it.
SCHEDULER = "sandbox-host-network"
STANDIN_LABEL = "sandbox.lmeval-setup.io/predictor-standin"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
SERVING_CERT_ANNOTATION = "service.beta.openshift.io/serving-cert-secret-name"
# KServe's constants: the Service's port (CommonDefaultHttpPort) and the vLLM runtime's containerPort
# (InferenceServiceDefaultHttpPort); an unnamed container port gives the Service port the name "http".
SERVICE_PORT = 80
CONTAINER_PORT = 8080
PORT_NAME = "http"
# KServe's storage initializer (and a modelcar) put the model here; the vLLM runtime passes it as --model.
MODEL_MOUNT = "/mnt/models"


def predictor_service_name(isvc_name: str) -> str:
    """KServe's PredictorServiceName."""
    return f"{isvc_name}-predictor"


def kserve_service(isvc: JSON) -> JSON:
    """The Service KServe's RawDeployment reconciler creates for `isvc`'s predictor (see the module docstring)."""
    meta = isvc["metadata"]
    name, namespace = str(meta["name"]), str(meta.get("namespace") or "default")
    service = predictor_service_name(name)
    app = f"isvc.{service}"  # KServe's GetRawServiceLabel
    body: JSON = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service, "namespace": namespace,
                     "labels": {"app": app, "component": "predictor", ISVC_LABEL: name},
                     "annotations": {SERVING_CERT_ANNOTATION: f"{service}-serving-cert"}},
        "spec": {"clusterIP": "None", "selector": {"app": app},
                 "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": CONTAINER_PORT,
                            "protocol": "TCP"}]},
    }
    if meta.get("uid"):
        body["metadata"]["ownerReferences"] = [{
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": name,
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]
    return body


def vllm_model_argument(isvc: JSON) -> str:
    """vLLM's --model for `isvc`, which GET /v1/models reports as `root`: the last `--model=` of the predictor's
    args (vLLM pulls a Hub id itself), else KServe's mount point when a storageUri is set, else the name."""
    model = ((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}
    chosen: str | None = None
    for arg in model.get("args") or []:
        if isinstance(arg, str) and arg.startswith("--model="):
            chosen = arg.split("=", 1)[1]
    if chosen:
        return chosen
    return MODEL_MOUNT if model.get("storageUri") else str(isvc["metadata"]["name"])


def is_raw_deployment(isvc: JSON) -> bool:
    """KServe creates the predictor Service itself in RawDeployment mode (the sandbox's InferenceServices)."""
    mode = ((isvc.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_MODE, "RawDeployment")
    return str(mode) == "RawDeployment"


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


@dataclass
class Predictor:
    """One InferenceService's predictor: its Service and, where this machine has an address, its stand-in."""

    isvc: str
    namespace: str
    _: KW_ONLY
    service: str
    server: ModelServer | None = None
    address: str | None = None

    @property
    def proxy_path(self) -> str:
        """The apiserver's service-proxy path to the predictor's /v1/models (the Service port, by name)."""
        return f"/api/v1/namespaces/{self.namespace}/services/{self.service}:{PORT_NAME}/proxy/v1/models"

    @property
    def pod(self) -> str:
        return f"{self.service}-standin"

    @property
    def subsets(self) -> list[JSON]:
        if self.server is None or self.address is None:
            return []
        return [{"addresses": [{"ip": self.address, "targetRef": {"kind": "Pod", "name": self.pod,
                                                                   "namespace": self.namespace}}],
                 "ports": [{"name": PORT_NAME, "port": self.server.port, "protocol": "TCP"}]}]


class KServeController:
    """The sandbox's stand-in for KServe's controller, as far as the predictor Services go (a simulator)."""

    def __init__(self, kube: Kube, release: Any = None, *, interval: float = 1.0, **_: Any) -> None:
        self.kube = kube
        self.interval = interval
        self.address = host_address()
        self.predictors: dict[tuple[str, str, str], Predictor] = {}  # (namespace, name, uid) -> Predictor
        self._lock = threading.Lock()

    def describe(self) -> dict[str, dict[str, Any]]:
        return {"kserve-controller": {"mode": "simulated",
                                      "detail": f"{len(self.predictors)} predictor Service(s), vLLM stand-ins"}}

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.reconcile()
                except (ApiError, ClusterError, OSError) as exc:  # the apiserver restarting: try again
                    log.debug("kserve-controller: %s", exc)
                stop.wait(self.interval)
        finally:
            self.shutdown()

    def reconcile(self) -> None:
        """Publish a predictor for every RawDeployment InferenceService, withdraw those of deleted ones."""
        try:
            isvcs = list(self.kube.list_items(resource_path("serving.kserve.io", "v1beta1", "inferenceservices")))
        except ApiError as exc:
            if exc.status != 404:  # 404: no KServe CRD in this scenario
                raise
            isvcs = []
        current = set()
        for isvc in isvcs:
            meta = isvc["metadata"]
            if not is_raw_deployment(isvc) or meta.get("deletionTimestamp"):
                continue
            key = (str(meta["namespace"]), str(meta["name"]), str(meta.get("uid", "")))
            current.add(key)
            with self._lock:
                predictor = self.predictors.get(key)
                if predictor is None:
                    predictor = self.predictors[key] = self._publish(isvc)
            self._keep_endpoints(predictor)
        for key in set(self.predictors) - current:
            self._withdraw(self.predictors.pop(key))

    def shutdown(self) -> None:
        with self._lock:
            predictors, self.predictors = list(self.predictors.values()), {}
        for predictor in predictors:
            self._withdraw(predictor)

    # -- one predictor --------------------------------------------------------------------------------
    def _publish(self, isvc: JSON) -> Predictor:
        meta = isvc["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        service = kserve_service(isvc)
        with suppress(ApiError):  # 409: it exists (a restarted simulator); KServe would update it to this
            self.kube.create(resource_path("", "v1", "services", namespace), service)
        predictor = Predictor(name, namespace, service=service["metadata"]["name"])
        if self.address is None:
            return predictor
        notes = meta.get("annotations") or {}
        config = ModelServerConfig(served_model_name=name, model=vllm_model_argument(isvc),
                                   api_key=notes.get(ANNOTATION_PREFIX + "api-key") or None,
                                   clients=frozenset({self.address, "127.0.0.1"}))
        predictor.server = ModelServer(config, host=self.address)
        predictor.address = self.address
        self._create_standin_pod(predictor)
        return predictor

    def _create_standin_pod(self, predictor: Predictor) -> None:
        pods = resource_path("", "v1", "pods", predictor.namespace)
        with suppress(ApiError):  # 409: left by a previous instance; its status is set again below
            self.kube.create(pods, {
                "apiVersion": "v1", "kind": "Pod",
                # not `app: isvc.<name>-predictor`: the endpoints controller would then publish address:8080
                "metadata": {"name": predictor.pod, "namespace": predictor.namespace,
                             "labels": {STANDIN_LABEL: "true", ISVC_LABEL: predictor.isvc, "component": "predictor"}},
                "spec": {"schedulerName": SCHEDULER, "hostNetwork": True,
                         "containers": [{"name": "kserve-container", "image": "vllm-standin",
                                         "ports": [{"containerPort": CONTAINER_PORT, "protocol": "TCP"}]}]},
            })
        self.kube.merge_patch(f"{pods}/{predictor.pod}/status", {"status": {
            "phase": "Running", "podIP": predictor.address, "podIPs": [{"ip": predictor.address}],
            "conditions": [{"type": "Ready", "status": "True"}]}})

    def _keep_endpoints(self, predictor: Predictor) -> None:
        """Write the stand-in into the Service's Endpoints once the endpoints controller has created them (writing
        first would be overwritten by its first sync), and again whenever they lost it."""
        if not predictor.subsets:
            return
        path = resource_path("", "v1", "endpoints", predictor.namespace, predictor.service)
        endpoints = self.kube.get_or_none(path)
        if endpoints is None or endpoints.get("subsets") == predictor.subsets:
            return
        self.kube.merge_patch(path, {"subsets": predictor.subsets})

    def _withdraw(self, predictor: Predictor) -> None:
        """Stop the stand-in and delete its Pod; the Service goes with its InferenceService (ownerReference)."""
        if predictor.server is not None:
            predictor.server.stop()
        with suppress(ApiError, ClusterError, OSError):
            self.kube.delete(resource_path("", "v1", "pods", predictor.namespace, predictor.pod))
