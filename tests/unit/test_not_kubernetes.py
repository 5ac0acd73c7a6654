"""A kubeconfig whose server is not a Kubernetes API server (a wrong port, a web server, a router or proxy
that answers 404 to every path) is a cluster error naming the server, not "OpenShift AI is not installed".

Before, every discovery 404 read as "this group is not served", so the doctor reported LME110 and
bootstrap stopped with exit 4 and "install the operator first" for a typo in the server URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from lmeval_setup.cli.main import main

APIVERSIONS = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def serve(answer_api: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if answer_api and self.path.split("?")[0] == "/api":
                body, status, kind = json.dumps(APIVERSIONS).encode(), 200, "application/json"
            else:  # what kube-apiserver and most web servers say for an unknown path
                body, status, kind = b"404 page not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(params=[False, True], ids=["web-server", "apiserver-without-openshift-ai"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[bool, str]]:
    server = serve(answer_api=request.param)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": url}}],
              "users": [{"name": "u", "user": {"token": "sha256~not-a-real-token"}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield request.param, str(path)
    finally:
        server.shutdown()
        server.server_close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


def test_doctor_tells_a_wrong_server_from_a_cluster_without_openshift_ai(
        cluster: tuple[bool, str], capsys: pytest.CaptureFixture[str]) -> None:
    is_kubernetes, kubeconfig = cluster
    code, err = run(capsys, "doctor", "--kubeconfig", kubeconfig, "--request-timeout", "5")
    if is_kubernetes:
        assert "LME110" in err and "not a Kubernetes API server" not in err, err
    else:
        assert code == 3, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "is not a Kubernetes API server (GET /api answered 404" in lines[0], err
        assert "LME110" not in err and "not-a-real-token" not in err
