"""Reads the apiserver asks us to repeat (429, 503) are retried in one place, the kube client, with
Retry-After honoured; writes are not (issue 18 item 6). A local HTTP server plays the apiserver's answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from lmeval_setup.kube.client import READ_RETRIES, ApiError, Kube


class Busy:
    """Answers `failures` requests with `status` (Retry-After: 0), then 200 {"ok": true}; counts requests."""

    def __init__(self) -> None:
        self.status, self.failures, self.seen = 503, 0, 0
        busy = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                busy.seen += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                failing = busy.seen <= busy.failures
                body = json.dumps({"kind": "Status", "code": busy.status} if failing else {"ok": True}).encode()
                self.send_response(busy.status if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if failing:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture()
def busy(tmp_path: Path) -> Iterator[tuple[Busy, Kube]]:
    server = Busy()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server.server_address[1]}"
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": url}}],
              "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    try:
        yield server, Kube.connect(str(tmp_path / "kubeconfig"))
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.parametrize("status", [429, 503])
def test_a_read_is_retried_until_it_succeeds(busy: tuple[Busy, Kube], status: int) -> None:
    server, kube = busy
    server.status, server.failures = status, READ_RETRIES
    assert kube.get("/api/v1/namespaces/x") == {"ok": True}
    assert server.seen == READ_RETRIES + 1


def test_a_read_that_stays_busy_ends_as_the_api_error(busy: tuple[Busy, Kube]) -> None:
    server, kube = busy
    server.failures = 100
    with pytest.raises(ApiError) as caught:
        kube.get("/api/v1/namespaces/x")
    assert caught.value.status == 503 and server.seen == READ_RETRIES + 1


def test_a_write_is_never_retried(busy: tuple[Busy, Kube]) -> None:
    server, kube = busy
    server.failures = 1
    with pytest.raises(ApiError):
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "x"}})
    assert server.seen == 1
