"""The predictor's pieces that need no apiserver: /v1/models `root`, the client allow-list, this machine's
non-loopback address, the Service KServe creates and the Service port doctor --fix proxies through
(tests/integration/test_doctor_fix.py reaches the stand-in through the apiserver's service proxy)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig
from lmeval_setup.sandbox.predictor import host_address


def _models(server: ModelServer) -> dict[str, object]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/v1/models")
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def test_models_root_is_vllms_model_argument_and_defaults_to_the_served_name() -> None:
    with ModelServer(ModelServerConfig(served_model_name="granite", model="ibm-granite/granite-3.3-2b-instruct")) as s:
        (entry,) = _models(s)["data"]  # type: ignore[misc]
        assert (entry["id"], entry["root"]) == ("granite", "ibm-granite/granite-3.3-2b-instruct")
    with ModelServer(ModelServerConfig(served_model_name="granite")) as s:
        assert _models(s)["data"][0]["root"] == "granite"  # type: ignore[index]


def test_a_client_outside_the_allow_list_gets_no_answer() -> None:
    with ModelServer(ModelServerConfig(clients=frozenset({"192.0.2.77"}))) as s:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            _models(s)
        assert s.requests_seen == []
    with ModelServer(ModelServerConfig(clients=frozenset({"127.0.0.1"}))) as s:
        assert _models(s)["object"] == "list"


def test_host_address_is_never_loopback() -> None:
    address = host_address()
    assert address is None or not address.startswith("127.")


def test_the_predictor_service_is_the_one_kserve_creates_for_a_raw_deployment() -> None:
    """opendatahub-io/kserve createDefaultSvc: <name>-predictor, selector app=isvc.<name>-predictor, port 80 named
    "http" (the vLLM runtime's unnamed container port) to 8080, headless as RHOAI configures it, owned."""
    from lmeval_setup.sandbox.predictor import kserve_service

    isvc = {"metadata": {"name": "granite", "namespace": "ns", "uid": "u-1"}}
    service = kserve_service(isvc)
    assert service["metadata"]["name"] == "granite-predictor"
    assert service["spec"] == {"clusterIP": "None", "selector": {"app": "isvc.granite-predictor"},
                               "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    assert service["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_models_root_is_what_vllm_gets_as_model() -> None:
    from lmeval_setup.sandbox.predictor import vllm_model_argument

    def isvc(**model: object) -> dict[str, object]:
        return {"metadata": {"name": "granite"}, "spec": {"predictor": {"model": model}}}

    assert vllm_model_argument(isvc(args=["--dtype=half", "--model=org/name"])) == "org/name"
    assert vllm_model_argument(isvc(storageUri="oci://quay.io/x/modelcar:granite")) == "/mnt/models"
    assert vllm_model_argument(isvc()) == "granite"


class _Services:
    """A Kube whose only object is one Service (or none: 404)."""

    def __init__(self, ports: list[dict[str, object]] | None) -> None:
        self.ports = ports

    def get(self, path: str) -> dict[str, object]:
        from lmeval_setup.kube.client import ApiError

        if self.ports is None:
            raise ApiError(404, "not found", path)
        return {"spec": {"ports": self.ports}}


@pytest.mark.parametrize(("ports", "url_port", "expected"), [
    ([{"name": "http", "port": 80, "targetPort": 8080}], 8080, ":http"),  # KServe raw, headless: the pod's port
    ([{"name": "http", "port": 80, "targetPort": 8080}], None, ":http"),  # http://<name>-predictor.ns.svc
    ([{"port": 8080, "targetPort": 8080}], 8080, ":8080"),  # an unnamed Service port: its number
    (None, 8080, ":8080"),  # the Service cannot be read: the URL's port, as before
    ([{"name": "grpc", "port": 9000, "targetPort": 9000}], 8080, ":8080"),  # no such port: the URL's
])
def test_the_service_proxy_port_is_a_port_of_the_service(ports: list[dict[str, object]] | None,
                                                          url_port: int | None, expected: str) -> None:
    from lmeval_setup.fix.remediate import _service_port

    kube: Any = _Services(ports)
    assert _service_port(kube, "ns", "granite-predictor", url_port, https=False) == expected
