"""The cluster client without the kubernetes package, against a real kube-apiserver (issue 15 item 3).

Every credential form a kubeconfig or a pod gives (certificate files, inline certificate data, a token,
a rotating token file, the in-cluster service account, an `exec` plugin through the package fallback)
reaches the apiserver as the identity it names, which the apiserver itself reports
(SelfSubjectReview); TLS settings (CA data, tls-server-name, insecure-skip-tls-verify) are honoured;
and `doctor -n NS` no longer imports the kubernetes package at all. One control plane for the module.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import require_controlplane_binaries

from lmeval_setup.errors import ClusterError
from lmeval_setup.kube import kubeconfig as K
from lmeval_setup.kube.client import Kube, resource_path

USER = "p-client-user"
NAMESPACE = "p-client"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    control = ControlPlane(tmp_path_factory.mktemp("kube-client-plane"))
    control.start()
    try:
        admin = Kube.connect(str(control.kubeconfig))
        admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        for name in ("sa-a", "sa-b"):
            admin.create(resource_path("", "v1", "serviceaccounts", NAMESPACE),
                         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        yield control
    finally:
        control.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def whoami(kube: Kube) -> str:
    review = kube.create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return str(review["status"]["userInfo"]["username"])


def token_for(plane: Any, account: str) -> str:
    admin = Kube.connect(str(plane.kubeconfig))
    path = resource_path("", "v1", "serviceaccounts", NAMESPACE, account, "token")
    answer = admin.create(path, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                 "spec": {"expirationSeconds": 3600}})
    return str(answer["status"]["token"])


def config_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def write(path: Path, config: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


def b64_file(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def with_user(base: dict[str, Any], user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    config = yaml.safe_load(yaml.safe_dump(base))
    config["users"][0]["user"] = user
    config["clusters"][0]["cluster"].update(cluster)
    return config


def sa(name: str) -> str:
    return f"system:serviceaccount:{NAMESPACE}:{name}"


# -- credentials ----------------------------------------------------------------------------------------
def test_client_certificate_files_and_inline_data(plane: Any, tmp_path: Path) -> None:
    files = plane.kubeconfig_for(USER, path=tmp_path / "files.kubeconfig")
    assert whoami(Kube.connect(str(files))) == USER
    config = config_of(files)
    user, cluster = config["users"][0]["user"], config["clusters"][0]["cluster"]
    inline = with_user(config, {"client-certificate-data": b64_file(user["client-certificate"]),
                                "client-key-data": b64_file(user["client-key"])},
                       **{"certificate-authority-data": b64_file(cluster.pop("certificate-authority"))})
    assert "certificate-authority" not in inline["clusters"][0]["cluster"]
    assert whoami(Kube.connect(write(tmp_path / "inline.kubeconfig", inline))) == USER


def test_relative_certificate_paths_resolve_against_their_file(plane: Any, tmp_path: Path) -> None:
    config = config_of(plane.kubeconfig_for(USER, path=tmp_path / "abs.kubeconfig"))
    user = config["users"][0]["user"]
    beside = tmp_path / "dir"
    beside.mkdir()
    for key in ("client-certificate", "client-key"):
        target = beside / Path(user[key]).name
        target.write_bytes(Path(user[key]).read_bytes())
        user[key] = target.name  # relative to the kubeconfig's directory, not the process's
    assert whoami(Kube.connect(write(beside / "kubeconfig", config))) == USER


def test_token_and_a_rotating_token_file(plane: Any, tmp_path: Path) -> None:
    base = config_of(plane.kubeconfig)
    token = with_user(base, {"token": token_for(plane, "sa-a")})
    assert whoami(Kube.connect(write(tmp_path / "token.kubeconfig", token))) == sa("sa-a")

    token_file = tmp_path / "token"
    token_file.write_text(token_for(plane, "sa-a") + "\n")
    kube = Kube.connect(write(tmp_path / "file.kubeconfig", with_user(base, {"tokenFile": str(token_file)})))
    assert whoami(kube) == sa("sa-a")
    time.sleep(0.05)  # a new mtime, as the kubelet's projected-token rotation gives
    token_file.write_text(token_for(plane, "sa-b"))
    assert whoami(kube) == sa("sa-b"), "a rotated token file is read again by the same client"


def test_in_cluster_service_account(plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(token_for(plane, "sa-a"))
    (account / "ca.crt").write_bytes((plane.certs / "ca.crt").read_bytes())
    monkeypatch.setattr(K, "SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    host, port = plane.server.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    assert whoami(Kube.connect()) == sa("sa-a")


def test_exec_plugin_falls_back_to_the_kubernetes_package(plane: Any, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"#!{sys.executable}\nimport json\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        f" 'status': {{'token': {token_for(plane, 'sa-b')!r}}}}}))\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                          "interactiveMode": "Never"}}
    path = write(tmp_path / "exec.kubeconfig", with_user(config_of(plane.kubeconfig), exec_user))
    assert K.endpoint(K.merge([path]), None).needs_library
    assert whoami(Kube.connect(path)) == sa("sa-b")


# -- TLS -------------------------------------------------------------------------------------------------
def test_tls_server_name_is_the_name_verified(plane: Any, tmp_path: Path) -> None:
    base = config_of(plane.kubeconfig)
    user = base["users"][0]["user"]
    good = with_user(base, user, **{"tls-server-name": "localhost"})  # a SAN of the serving certificate
    assert whoami(Kube.connect(write(tmp_path / "good.kubeconfig", good))) == "lmeval-admin"
    wrong = with_user(base, user, **{"tls-server-name": "not-the-apiserver.example"})
    with pytest.raises(ClusterError, match="TLS certificate not trusted"):
        Kube.connect(write(tmp_path / "wrong.kubeconfig", wrong)).get("/version")


def test_insecure_skip_tls_verify_and_an_untrusted_server(plane: Any, tmp_path: Path) -> None:
    base = config_of(plane.kubeconfig)
    user = base["users"][0]["user"]
    untrusted = with_user(base, user)
    untrusted["clusters"][0]["cluster"].pop("certificate-authority")  # the system CAs do not know ours
    with pytest.raises(ClusterError, match="TLS certificate not trusted"):
        Kube.connect(write(tmp_path / "untrusted.kubeconfig", untrusted)).get("/version")
    untrusted["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    assert whoami(Kube.connect(write(tmp_path / "insecure.kubeconfig", untrusted))) == "lmeval-admin"


# -- the cold CLI ------------------------------------------------------------------------------------------
def test_doctor_namespace_imports_nothing_from_the_kubernetes_package(plane: Any, tmp_path: Path) -> None:
    """`doctor -n NS` with a certificate kubeconfig: the package (~150 ms of a cold run) is never imported, nor
    urllib3 (~25 ms: the plain path's pool is the standard library's, kube/pool.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LMEVAL_DEBUG")}
    # faulthandler: a crash prints every thread's stack (one run died of SIGSEGV at exit: kube/pool.py clear())
    proc = subprocess.run([sys.executable, "-X", "importtime", "-X", "faulthandler", "-m", "lmeval_setup.cli.main",
                           "doctor", "-n",
                           NAMESPACE, "--kubeconfig", str(plane.kubeconfig), "-o", "json"],
                          capture_output=True, text=True, timeout=120, env=env)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "lmeval_setup.kube.client" in imported, proc.stderr[-2000:]
    assert not [m for m in imported if m == "kubernetes" or m.startswith("kubernetes.")], \
        [m for m in imported if m.startswith("kubernetes")][:5]
    assert not [m for m in imported if m.split(".")[0] == "urllib3"], \
        [m for m in imported if m.split(".")[0] == "urllib3"][:5]
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode in (0, 1, 4), errors  # 4: the bare control plane serves no OpenShift AI
    assert "Traceback" not in proc.stderr
