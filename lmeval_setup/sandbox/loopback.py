"""The lifecycle the sandbox's in-process HTTP stand-ins share (the vLLM model server, the Hugging Face
Hub): served by a daemon thread on a loopback port, `url` to reach it, `stop()` or a `with` block to end it."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    scheme = "http"

    def _serve(self, server: ThreadingHTTPServer, host: str, name: str) -> None:
        """Start serving `server` (its handler records `requests_seen`) on a thread named after the port."""
        self._server: Any = server
        self.host = host
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name=f"{name}-{self.port}")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def requests_seen(self) -> list[tuple[str, str]]:
        return list(self._server.requests_seen)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
