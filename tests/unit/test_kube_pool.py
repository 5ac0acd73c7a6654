"""kube/pool.py, the plain path's standard-library pool: requests reuse kept-alive connections (a new TCP
and TLS handshake costs a remote cluster two round trips), a connection the server closed while idle is
replaced without failing the request, and a streamed body returns its connection when read to the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from testsupport import serving

from lmeval_setup.kube.pool import StdlibPool


class Server:
    """HTTP/1.1 with keep-alive; counts the connections it accepted; closes after `close_after` answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.close_after: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                self.answered = 0
                super().setup()

            def do_GET(self) -> None:
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.answered += 1
                if server.close_after is not None and self.answered >= server.close_after:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    with serving(s.httpd):
        yield s


def test_sequential_requests_share_one_connection(server: Server) -> None:
    pool = StdlibPool(server.url)
    answers = [json.loads(pool.request("GET", f"{server.url}/n/{i}", timeout=5).data) for i in range(10)]
    assert [a["path"] for a in answers] == [f"/n/{i}" for i in range(10)]
    assert server.connections == 1
    pool.clear()


def test_a_connection_the_server_closed_is_replaced(server: Server) -> None:
    server.close_after = 1  # every answer ends its connection
    pool = StdlibPool(server.url)
    for i in range(3):
        assert pool.request("GET", f"{server.url}/again/{i}", timeout=5).status == 200
    assert server.connections == 3
    pool.clear()


def test_a_streamed_body_read_to_its_end_returns_the_connection(server: Server) -> None:
    pool = StdlibPool(server.url)
    response = pool.request("GET", f"{server.url}/stream", timeout=5, preload_content=False)
    assert json.loads(b"".join(response.stream(4))) == {"path": "/stream"}
    response.release_conn()
    assert pool.request("GET", f"{server.url}/after", timeout=5).status == 200
    assert server.connections == 1
    pool.clear()
