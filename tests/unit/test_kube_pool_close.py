"""Closing a client waits, bounded, for the connections prewarm() is still opening.

A fresh-clone run failed test_doctor_namespace_imports_nothing_from_the_kubernetes_package: `doctor -n` on a
control plane without OpenShift AI printed its LME110 error and then died of SIGSEGV (returncode -11). That
run ends at once, while prewarm()'s threads may still be in their TLS handshakes (the machine was at load
11-13): a thread inside OpenSSL when the process exits races the exit's OPENSSL_cleanup and the
interpreter's finalization. Closing now waits for them, up to a bound, except on an interrupt.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testsupport import HungServer

from lmeval_setup.kube.pool import StdlibPool
from lmeval_setup.sandbox.pki import TinyCA

HANDSHAKE_DELAY_S = 0.4


class SlowTLSServer(HungServer):
    """Answers each TLS handshake after HANDSHAKE_DELAY_S, or never (`answer=False`)."""

    def __init__(self, tmp: Path, answer: bool = True) -> None:
        ca = TinyCA("pool-close-test")
        pair = ca.server_cert(("127.0.0.1",))
        (tmp / "cert.pem").write_bytes(pair.cert_pem)
        (tmp / "key.pem").write_bytes(pair.key_pem)
        self.server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        self.client_context = ssl.create_default_context(cadata=ca.cert_pem.decode())
        self.answer = answer
        super().__init__()
        self.url = f"https://127.0.0.1:{self.port}"

    def _accepted(self, conn: socket.socket) -> None:
        if self.answer:
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        time.sleep(HANDSHAKE_DELAY_S)
        with contextlib.suppress(OSError):
            self.conns.append(self.server_context.wrap_socket(conn, server_side=True))


@pytest.fixture()
def openers_gone() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 10
    while _openers() and time.monotonic() < deadline:
        time.sleep(0.05)


def _openers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kube-connect" and t.is_alive()]


def test_closing_waits_for_the_handshakes_in_progress(tmp_path: Path, openers_gone: None) -> None:
    server = SlowTLSServer(tmp_path)
    try:
        pool = StdlibPool(server.url, ssl_context=server.client_context)
        pool.prewarm(3, timeout=10)
        assert _openers(), "prewarm opens its connections on threads of its own"
        pool.clear(wait=10)
        assert _openers() == []  # on the old code all three were still in their handshakes
    finally:
        server.close()


def test_closing_gives_up_on_a_server_that_never_answers(tmp_path: Path, openers_gone: None) -> None:
    server = SlowTLSServer(tmp_path, answer=False)
    try:
        pool = StdlibPool(server.url, ssl_context=server.client_context)
        pool.prewarm(2, timeout=30)
        started = time.monotonic()
        pool.clear(wait=0.3)
        assert time.monotonic() - started < 5
        assert len(_openers()) == 2  # blocked in the kernel, left as they are
    finally:
        server.close()  # their handshakes fail now, and the threads end
