"""The sandbox's keep-alive HTTP servers (kubelet logs and exec, model server, Hugging Face Hub stand-in)
answer a kept-alive connection's later requests at once. Each writes a response's headers and its body
separately; without TCP_NODELAY, Nagle's algorithm held the body until the client ACKed the headers, and the
client delays that ACK (40 ms at least on Linux): every request after a connection's first took 40-50 ms,
every doctor log read through the apiserver included. Timing here has a floor, not a ceiling to guess: with
the delay, no request after the first can be faster than 40 ms."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmeval_setup.sandbox import hubserver, kubelet, modelserver

DELAYED_ACK_S = 0.040  # Linux's minimum delayed-ACK timeout: what each held body waited for


def _kubelet(_: Path) -> Any:
    return kubelet._LogServer(("127.0.0.1", 0), kubelet._LogHandler, None)  # type: ignore[arg-type]


def _model_server(_: Path) -> Any:
    return modelserver._Server(("127.0.0.1", 0), modelserver.ModelServerConfig())


def _hub(tmp: Path) -> Any:
    return hubserver._Server(("127.0.0.1", 0), hubserver.HubContent(tmp), frozenset())


@pytest.fixture(params=[(_kubelet, "/healthz"), (_model_server, "/v1/models"), (_hub, "/api/models/x/y")],
                ids=["kubelet", "model-server", "hub"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    make: Callable[[Path], Any] = request.param[0]
    httpd = make(tmp_path)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, request.param[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_a_kept_alive_connection_gets_its_answers_without_waiting_for_a_delayed_ack(server: tuple[Any, str]) -> None:
    httpd, path = server
    connection = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    times = []
    try:
        for _ in range(6):
            began = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - began)
            assert not response.will_close  # the same connection each time
    finally:
        connection.close()
    assert min(times[1:]) < DELAYED_ACK_S * 0.75, [round(t * 1000, 1) for t in times]
