"""The sandbox's TLS servers handshake per connection, concurrently (issue 15/16): the kubelet's log/exec
server (the apiserver proxies every pods/log and pods/exec to it) and the model server used to wrap their
listening socket, so the one accepting thread ran each handshake before any handler thread existed. One
client that connected and never sent its ClientHello blocked every later log read until it went away.
Here a raw TCP client sits idle on the port while a normal TLS client asks; the real servers, no cluster."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from http.client import HTTPSConnection

import pytest

from lmeval_setup.sandbox import kubelet as K
from lmeval_setup.sandbox import tlsaccept
from lmeval_setup.sandbox.modelserver import ModelServer
from lmeval_setup.sandbox.pki import TinyCA

ANSWER_WITHIN_SECONDS = 5.0  # a handshake and a GET on loopback; generous for a loaded 2-core machine


class _NoApi:
    """The server part of the kubelet never reads the API; nothing here should be called."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the kubelet's server called the API ({name})")


@pytest.fixture(scope="module")
def ca() -> TinyCA:
    return TinyCA()


@pytest.fixture
def kubelet_port(ca: TinyCA) -> Iterator[int]:
    pair = ca.server_cert()
    kubelet = K.Kubelet(_NoApi(), cert_pem=pair.cert_pem, key_pem=pair.key_pem)  # type: ignore[arg-type]
    if kubelet.runtime is not None:  # the Python server itself, not kubelet-stream in front of it
        kubelet.runtime.teardown()
        kubelet.runtime = None
    port = kubelet.start_server_only()
    try:
        yield port
    finally:
        kubelet._stop_server()


@pytest.fixture
def modelserver_port(ca: TinyCA) -> Iterator[int]:
    pair = ca.server_cert()
    with ModelServer(tls=(pair.cert_pem, pair.key_pem)) as server:
        yield server.port


def _client(ca: TinyCA) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca.cert_pem.decode())


def _get(port: int, path: str, ca: TinyCA) -> tuple[int, float]:
    """Status and seconds of one GET by a fresh TLS connection (as each pods/log read is)."""
    started = time.monotonic()
    connection = HTTPSConnection("127.0.0.1", port, timeout=ANSWER_WITHIN_SECONDS, context=_client(ca))
    try:
        connection.request("GET", path)
        status = connection.getresponse().status
    finally:
        connection.close()
    return status, time.monotonic() - started


def _silent_clients(port: int, count: int) -> list[socket.socket]:
    """Clients that connect and never send a byte: no ClientHello, so no handshake can finish."""
    return [socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN_SECONDS) for _ in range(count)]


@pytest.mark.parametrize("server, path", [("kubelet_port", "/healthz"), ("modelserver_port", "/health")])
def test_a_silent_client_does_not_hold_up_the_next_tls_client(server: str, path: str, ca: TinyCA,
                                                              request: pytest.FixtureRequest) -> None:
    port = request.getfixturevalue(server)
    silent = _silent_clients(port, 2)
    try:
        time.sleep(0.2)  # let the server accept them first, as a port scan ahead of a log read
        try:
            status, seconds = _get(port, path, ca)
        except TimeoutError:
            pytest.fail(f"no answer within {ANSWER_WITHIN_SECONDS} s while 2 clients sat in their handshake: "
                        "handshakes run in the accepting thread, one at a time")
        assert status == 200, status
        assert seconds < ANSWER_WITHIN_SECONDS
    finally:
        for sock in silent:
            sock.close()


def test_a_client_stuck_in_its_handshake_is_dropped_after_the_timeout(
        ca: TinyCA, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stuck handshake gives its thread back: the server closes the connection after handshake_timeout."""
    monkeypatch.setattr(tlsaccept.HandshakeInHandlerThread, "handshake_timeout", 0.5)
    pair = ca.server_cert()
    with ModelServer(tls=(pair.cert_pem, pair.key_pem)) as server:
        [silent] = _silent_clients(server.port, 1)
        with silent:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the server (a timeout here raises instead)
            assert time.monotonic() - started < ANSWER_WITHIN_SECONDS
        assert _get(server.port, "/health", ca)[0] == 200  # and it still serves
