"""The predictor stand-in's pieces that need no apiserver: /v1/models `root`, the client allow-list and
this machine's non-loopback address (tests/integration/test_doctor_fix.py reaches it through the
apiserver's service proxy)."""

from __future__ import annotations

import http.client
import json

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
