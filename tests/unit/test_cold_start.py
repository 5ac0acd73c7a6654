"""A cold `doctor -n NS` (issue 15 item 3): it imports only what it uses, and the handshakes of its first
connections overlap with its imports (kube.pool's prewarm). Speed itself is bench/latency_bench.py's to
prove; these check the mechanisms, without timing anything."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from testsupport import serving

from lmeval_setup.kube.pool import StdlibPool

# What the doctor's modules imported before this work and use nothing of (PyYAML: a kubeconfig as kubectl
# writes it is read by lmeval_setup.blockyaml).
NOT_NEEDED = ("kubernetes", "urllib3", "concurrent.futures", "importlib.resources", "zipfile", "tempfile",
              "logging", "click.shell_completion", "yaml")
DOCTOR_MODULES = ("lmeval_setup.cli.main", "lmeval_setup.cli.doctor", "lmeval_setup.cli.common",
                  "lmeval_setup.bootstrap.k8s_auth", "lmeval_setup.kube.pool", "lmeval_setup.doctor.collect",
                  "lmeval_setup.doctor.evaluate", "lmeval_setup.rules.spec", "lmeval_setup.report.jsonfmt")


def test_the_doctors_modules_import_nothing_it_does_not_use() -> None:
    """In a fresh interpreter: every module a cold doctor loads, the CRD schema read as evaluate reads it."""
    code = (f"import importlib, json, sys\nfor m in {DOCTOR_MODULES!r}: importlib.import_module(m)\n"
            "from lmeval_setup.rules.schema import crd_schema\nassert crd_schema()['schema']\n"
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True, timeout=120).stdout))
    assert sorted(m for m in NOT_NEEDED if m in loaded) == []


def test_connecting_with_a_kubeconfig_kubectl_wrote_imports_no_yaml_and_compiles_no_rule_pattern(
        tmp_path: Path) -> None:
    """Kube.connect reads the kubeconfig (blockyaml, not PyYAML); importing the rules compiles none of the
    guarded rule tables' patterns (rules.guarded compiles one when a text holds its literal)."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n"
                          "    insecure-skip-tls-verify: true\n  name: c\ncontexts:\n- context:\n    cluster: c\n"
                          "    user: u\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: abc\n")
    code = (f"import importlib, json, sys\nfor m in {DOCTOR_MODULES!r}: importlib.import_module(m)\n"
            "from lmeval_setup.kube.client import Kube\n"
            f"kube = Kube.connect({str(kubeconfig)!r})\nassert kube.host == 'https://127.0.0.1:1'\n"
            "from lmeval_setup.rules import logs, operator_messages, status\n"
            "patterns = [p.regex for p in logs._FINAL] + [m.pattern for m in operator_messages.OPERATOR_MESSAGES]"
            " + [e[0] for e in status._STATUS_MESSAGES]\n"
            "print(json.dumps({'yaml': 'yaml' in sys.modules, 'compiled': sum(p.compiled for p in patterns)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout) == {"yaml": False, "compiled": 0}


# -- prewarm ------------------------------------------------------------------------------------------------
def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "tls.crt", tmp / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TlsServer:
    """HTTPS/1.1 with keep-alive on TLS 1.3 (whose session tickets arrive after the handshake); counts the
    connections it accepted."""

    def __init__(self, tmp: Path) -> None:
        self.connections = 0
        server = self
        cert, key = _self_signed(tmp)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.client = ssl.create_default_context(cafile=str(cert))


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    s = TlsServer(tmp_path)
    with serving(s.httpd):
        yield s


def test_requests_take_the_prewarmed_connections(tls_server: TlsServer) -> None:
    """Three connections opened ahead, then three requests at once: no fourth handshake. A TLS 1.3
    connection that waited idle has its session tickets waiting: that is not a connection the server closed."""
    pool = StdlibPool(tls_server.url, ssl_context=tls_server.client)
    pool.prewarm(3, timeout=10)
    with ThreadPoolExecutor(3) as workers:
        answers = list(workers.map(lambda i: pool.request("GET", f"{tls_server.url}/{i}", timeout=10), range(3)))
    assert [a.status for a in answers] == [200, 200, 200]
    assert tls_server.connections == 3
    assert pool.request("GET", f"{tls_server.url}/again", timeout=10).status == 200  # reused, not replaced
    assert tls_server.connections == 3
    pool.clear()


def test_a_prewarmed_connection_that_fails_fails_the_request_waiting_for_it() -> None:
    """A server that accepts and never answers the TLS handshake: the waiting request gets the prewarm's
    timeout instead of dialling again and waiting out a second one."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        pool = StdlibPool(f"https://127.0.0.1:{listener.getsockname()[1]}", ssl_context=ssl.create_default_context())
        pool.prewarm(1, timeout=0.5)
        with pytest.raises(TimeoutError):
            pool.request("GET", "/version", timeout=0.5)
        assert len(accepted) == 1
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


# -- the exit collection -------------------------------------------------------------------------------------
def test_only_a_process_ending_with_main_skips_the_exit_collection() -> None:
    """main() with no argv (the console script, python -m) freezes the run's objects on its way out; main(argv),
    as tests call it many times in one process, leaves the collector alone."""
    code = ("import gc, sys\nfrom lmeval_setup.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "assert gc.get_freeze_count() == 0, 'main(argv) froze'\n"
            "sys.argv = ['lmeval-setup', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('frozen' if gc.get_freeze_count() else 'not frozen')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "frozen"
