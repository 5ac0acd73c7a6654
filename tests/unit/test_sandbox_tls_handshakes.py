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
def kubelet(ca: TinyCA) -> Iterator[K.Kubelet]:
    """The kubelet's own log server (not kubelet-stream in front of it), with a log store of its own."""
    pair = ca.server_cert()
    kubelet = K.Kubelet(_NoApi(), cert_pem=pair.cert_pem, key_pem=pair.key_pem,  # type: ignore[arg-type]
                        log_store=K.LogStore())
    if kubelet.runtime is not None:  # no process sandbox: kubelet-stream is started only with one
        kubelet.runtime.teardown()
        kubelet.runtime = None
    kubelet.start_server_only()
    try:
        yield kubelet
    finally:
        kubelet._stop_server()


@pytest.fixture
def kubelet_port(kubelet: K.Kubelet) -> int:
    return kubelet.port


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


def _running_pod(kubelet: K.Kubelet, name: str) -> str:
    """A pod the kubelet runs, its `main` container's log started; its uid."""
    uid = f"uid-{name}"
    pod = {"metadata": {"uid": uid, "name": name, "namespace": "ns"}, "spec": {"containers": [{"name": "main"}]}}
    main = K.ContainerRun({"name": "main"}, False, state="running", reason="")
    kubelet._pods[uid] = K.PodRun(pod, K.now_utc(), ip="10.0.0.9", init=[], main=[main])
    kubelet.logs.start_attempt(uid, "main")
    return uid


def test_log_reads_keep_their_connection(kubelet: K.Kubelet, ca: TinyCA) -> None:
    """kubelet-stream's proxy (and the apiserver) reuse a connection for the next log read: no TLS handshake
    per read (HTTP/1.0 closed each one; 100 proxied reads, 16 at once, took 1.25 s, now 0.42 s)."""
    uid = _running_pod(kubelet, "p")
    kubelet.logs.append(uid, "main", "hello")
    connection = HTTPSConnection("127.0.0.1", kubelet.port, timeout=ANSWER_WITHIN_SECONDS, context=_client(ca))
    try:
        for read in range(2):
            connection.request("GET", "/containerLogs/ns/p/main?tailLines=5")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"hello\n")
            if read == 0:
                first = connection.sock
                assert first is not None, "the server closed the connection after one log read"
        assert connection.sock is first
    finally:
        connection.close()


def test_follow_streams_until_the_container_ends(kubelet: K.Kubelet, ca: TinyCA) -> None:
    """`follow` stays close-delimited: each line as it is written, the body ends when the container does."""
    uid = _running_pod(kubelet, "f")
    kubelet.logs.append(uid, "main", "one")
    connection = HTTPSConnection("127.0.0.1", kubelet.port, timeout=ANSWER_WITHIN_SECONDS, context=_client(ca))
    try:
        connection.request("GET", "/containerLogs/ns/f/main?follow=true")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Connection") == "close"
        assert response.readline() == b"one\n"
        kubelet.logs.append(uid, "main", "two")
        assert response.readline() == b"two\n"
        kubelet.logs.finish(uid, "main")
        assert response.read() == b""  # the end of the body: the server closed
    finally:
        connection.close()
