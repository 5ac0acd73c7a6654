"""TLS for the sandbox's threaded HTTP servers (the kubelet's log/exec server, the model server), with each
connection's handshake in that connection's own handler thread.

Wrapping the *listening* socket (`server.socket = context.wrap_socket(...)`) makes `accept()` run the
handshake in the one accepting thread, before any handler thread exists: handshakes queue one at a time, and a
client that connects and never finishes its handshake (a port scan, a stuck peer) blocks every later
connection. A real kubelet, like any Go or uvicorn server, handshakes per connection, concurrently. Here the
server accepts plain sockets and `process_request_thread` wraps each one, with a bounded handshake.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Long enough for a loaded 2-core machine to finish a handshake, short enough that a stuck client gives
# its thread back soon.
HANDSHAKE_TIMEOUT_SECONDS = 10.0


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for this key pair (ssl loads keys only from files: removed at once)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        key.touch(0o600)
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    return context


class HandshakeInHandlerThread(ThreadingHTTPServer):
    """A ThreadingHTTPServer that speaks TLS when `tls_context` is set, handshaking in the handler thread."""

    tls_context: ssl.SSLContext | None = None
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        connection = self._secured(request)
        if connection is not None:
            super().process_request_thread(connection, client_address)

    def _secured(self, request: socket.socket) -> socket.socket | None:
        """The accepted socket, wrapped and handshaken when serving TLS; None (closed) when the handshake
        fails or does not end within `handshake_timeout`."""
        if self.tls_context is None:
            return request
        try:
            connection = self.tls_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        except OSError:
            request.close()
            return None
        try:
            connection.settimeout(self.handshake_timeout)
            connection.do_handshake()
            connection.settimeout(None)  # as before: `follow` streams may be idle for long
        except OSError:  # ssl.SSLError and TimeoutError included
            connection.close()
            return None
        return connection
