"""The sandbox's stand-in for the job image's scripts/s3_downloader.py (offline.storage.s3) behaves as the image's
script does where the driver can tell: its stdout (which the driver prints in main's log) and its exit code.
The S3 answers come from a loopback server speaking S3's ListObjectsV2 XML; the doctor reads the script's
lines as LME032 evidence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lmeval_setup.rules.logs import analyse
from lmeval_setup.sandbox import s3_downloader_standin as S3

LISTING = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>evals</Name><Prefix>models</Prefix>
<Contents><Key>models/</Key></Contents><Contents><Key>models/granite/config.json</Key></Contents>
<Contents><Key>models/datasets/arc.parquet</Key></Contents></ListBucketResult>"""
DENIED = """<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.
</Message></Error>"""


class _S3(BaseHTTPRequestHandler):
    deny = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.deny:
            body, code = DENIED.encode(), 403
        elif "list-type=2" in self.path:
            body, code = LISTING.encode(), 200
        else:
            body, code = f"bytes of {self.path}".encode(), 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _S3)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The variables the controller sets for offline.storage.s3 (values from the job's Secret)."""
    for name in ("S3_VERIFY_SSL", "AWS_CA_BUNDLE", "AWS_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_S3_BUCKET", "evals")
    monkeypatch.setenv("AWS_PATH", "/models/")
    monkeypatch.setattr(S3, "DESTINATION", tmp_path / "hf_home")
    monkeypatch.setattr(S3, "ATTEMPTS", 2)
    monkeypatch.setattr(S3, "BACKOFF_SECONDS", 0.01)
    return monkeypatch


def test_tls_verification_without_a_ca_bundle_exits_1_before_connecting(env: Any, capsys: Any) -> None:
    env.setenv("S3_VERIFY_SSL", "true")  # what the controller writes unless verifySSL: false
    assert S3.main() == 1
    out = capsys.readouterr().out
    assert "- ERROR - SSL verification enabled, but no certificate path found" in out
    assert "not-a-real-secret" not in out
    hit = analyse("Downloading assets from S3\n" + out)
    assert [(h.rule_id, h.line) for h in hit] == [("LME032", 2)] and "caBundle" in hit[0].message


def test_a_ca_bundle_that_is_not_there_exits_1(env: Any, capsys: Any, tmp_path: Path) -> None:
    env.setenv("AWS_CA_BUNDLE", str(tmp_path / "nope.crt"))
    assert S3.main() == 1
    assert f"SSL CA bundle not found at {tmp_path / 'nope.crt'}" in capsys.readouterr().out


def test_an_endpoint_it_cannot_reach_is_a_traceback_and_exit_1(env: Any, endpoint: ThreadingHTTPServer) -> None:
    host, port = endpoint.server_address[:2]
    endpoint.shutdown()
    endpoint.server_close()  # nothing listens there any more
    env.setenv("S3_VERIFY_SSL", "false")
    env.setenv("AWS_S3_ENDPOINT", f"http://{host}:{port}")
    with pytest.raises(S3.EndpointConnectionError, match=r'Could not connect to the endpoint URL: "http://'):
        S3.main()  # the interpreter prints the traceback (on stderr, which the driver does not print) and exits 1


def test_rejected_credentials_are_only_logged_and_exit_0(env: Any, endpoint: ThreadingHTTPServer,
                                                          capsys: Any) -> None:
    host, port = endpoint.server_address[:2]
    env.setattr(_S3, "deny", True)
    env.setenv("S3_VERIFY_SSL", "false")
    env.setenv("AWS_S3_ENDPOINT", f"http://{host}:{port}")
    assert S3.main() == 0
    assert ("Error: An error occurred (InvalidAccessKeyId) when calling the ListObjectsV2 operation: The AWS "
            "Access Key Id you provided does not exist") in capsys.readouterr().out


def test_objects_under_the_path_land_in_hf_home(env: Any, endpoint: ThreadingHTTPServer, capsys: Any) -> None:
    host, port = endpoint.server_address[:2]
    env.setenv("S3_VERIFY_SSL", "0")
    env.setenv("AWS_S3_ENDPOINT", f"http://{host}:{port}/")
    assert S3.main() == 0
    home = S3.DESTINATION
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()) == [
        "datasets/arc.parquet", "granite/config.json"]
    assert (home / "granite" / "config.json").read_text() == "bytes of /evals/models/granite/config.json"
    assert "Downloading s3://evals/models/granite/config.json ->" in capsys.readouterr().out
