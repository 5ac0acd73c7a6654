"""The lmeval.setup modules take kubernetes.core's connection options and resolve them as it does
(issue 13 item 2): the same spec, each option from the same place (task, K8S_AUTH_<OPTION>,
K8S_AUTH_<client name>), the same choice of base (options alone, kubeconfig, in-cluster), the same overrides.
Compared with the kubernetes.core installed with the `ansible` package, so an upgrade that changes its rules
fails here rather than in AWX."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.bootstrap import k8s_auth as A

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup"


@pytest.fixture(scope="module")
def ours() -> Any:
    # ansible_collections is a namespace package: the repo's collections join the site-packages ones
    sys.path.append(str(REPO / "ansible" / "collections"))
    try:
        yield importlib.import_module("ansible_collections.lmeval.setup.plugins.module_utils.k8s_auth")
    finally:
        sys.path.remove(str(REPO / "ansible" / "collections"))


@pytest.fixture(scope="module")
def core() -> Any:
    return pytest.importorskip("ansible_collections.kubernetes.core.plugins.module_utils.k8s.client")


class FakeModule:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params


def test_same_options_aliases_and_names_as_kubernetes_core(ours: Any) -> None:
    from ansible_collections.kubernetes.core.plugins.module_utils import args_common

    assert ours.AUTH_ARG_SPEC == args_common.AUTH_ARG_SPEC
    assert ours.AUTH_ARG_MAP == args_common.AUTH_ARG_MAP
    assert ours.AUTH_PROXY_HEADERS_SPEC == args_common.AUTH_PROXY_HEADERS_SPEC


def test_the_doc_fragment_documents_every_option_with_its_type_and_aliases(ours: Any) -> None:
    text = (COLLECTION / "plugins" / "doc_fragments" / "k8s_auth_options.py").read_text()
    options = yaml.safe_load(text.split('r"""', 1)[1].rsplit('"""', 1)[0])["options"]
    assert set(options) == set(ours.AUTH_ARG_SPEC)
    for name, spec in ours.AUTH_ARG_SPEC.items():
        assert options[name]["type"] == spec.get("type", "str"), name
        assert options[name].get("aliases", []) == spec.get("aliases", []), name
    for module in (COLLECTION / "plugins" / "modules").glob("*.py"):
        assert "extends_documentation_fragment: [lmeval.setup.k8s_auth_options]" in module.read_text(), module.name
        assert "connection_spec()" in module.read_text(), module.name


ENVIRONMENTS: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({"K8S_AUTH_HOST": "https://awx:6443", "K8S_AUTH_API_KEY": "t0k", "K8S_AUTH_VERIFY_SSL": "false"}, {}),
    ({"K8S_AUTH_VALIDATE_CERTS": "no", "K8S_AUTH_VERIFY_SSL": "yes"}, {}),   # the option's name first
    ({"K8S_AUTH_VERIFY_SSL": "0"}, {}),
    ({"K8S_AUTH_VERIFY_SSL": "anything"}, {}),                               # false only for 0/false/no
    ({"K8S_AUTH_HOST": "", "K8S_AUTH_API_KEY": "t"}, {}),                    # empty falls through (`or`)
    ({"K8S_AUTH_SSL_CA_CERT": "/ca", "K8S_AUTH_CERT_FILE": "/c", "K8S_AUTH_KEY_FILE": "/k"}, {}),
    ({"K8S_AUTH_CA_CERT": "/ca1", "K8S_AUTH_SSL_CA_CERT": "/ca2"}, {}),
    ({"K8S_AUTH_HOST": "https://env"}, {"host": "https://task", "validate_certs": True}),  # the task wins
    ({"K8S_AUTH_KUBECONFIG": "/k", "K8S_AUTH_CONTEXT": "c"}, {"context": "mine"}),
    ({"K8S_AUTH_PROXY": "http://p:3128", "K8S_AUTH_NO_PROXY": "svc",
      "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "u:p"}, {}),
    ({"K8S_AUTH_PERSIST_CONFIG": "false", "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "pw"}, {}),
]


@pytest.mark.parametrize(("environ", "task"), ENVIRONMENTS)
def test_each_option_comes_from_where_kubernetes_core_takes_it(
        ours: Any, core: Any, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], task: dict[str, Any]) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    params = {name: None for name in ours.AUTH_ARG_SPEC} | task
    assert ours.resolve_auth(params) == core._create_auth_spec(FakeModule(params))
    assert ours.resolve_impersonation(params) == {
        k.lower().replace("-", "_").replace("group", "groups"): v
        for k, v in core._create_headers(FakeModule(params)).items()}


def test_impersonation_from_the_environment_as_kubernetes_core(ours: Any, core: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_USER", "alice")
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_GROUPS", "g1,,g2")
    params = {name: None for name in ours.AUTH_ARG_SPEC}
    headers = core._create_headers(FakeModule(params))
    assert ours.resolve_impersonation(params) == {"impersonate_user": headers["Impersonate-User"],
                                                  "impersonate_groups": headers["Impersonate-Group"]}
    assert A.impersonation_headers(ours.resolve_impersonation(params)) == [
        ("Impersonate-User", "alice"), ("Impersonate-Group", "g1"), ("Impersonate-Group", "g2")]


@pytest.mark.parametrize(("auth", "base"), [
    ({"host": "h", "api_key": "t", "kubeconfig": "/k", "context": "c"}, "options"),
    ({"host": "h", "cert_file": "c", "key_file": "k"}, "options"),
    ({"host": "h", "username": "u", "password": "p"}, "options"),
    ({"host": "h"}, "in_cluster_then_kubeconfig"),
    ({"api_key": "t"}, "in_cluster_then_kubeconfig"),
    ({"host": "h", "kubeconfig": "/k"}, "kubeconfig"),
    ({"context": "c"}, "kubeconfig"),
    ({}, "in_cluster_then_kubeconfig"),
])
def test_the_base_is_chosen_by_kubernetes_cores_rule(auth: dict[str, Any], base: str) -> None:
    assert A.base_source(auth) == base


def _kubeconfig(tmp_path: Path, server: str, token: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


def _authorization(kube: Any) -> str | None:
    headers: dict[str, str] = {}
    kube._transport.authorize(headers, "/api", "GET")
    return headers.get("Authorization")


def test_options_override_what_the_kubeconfig_loaded(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path, "https://kubeconfig:6443", "from-kubeconfig")
    host_only = A.connect_with_auth({"kubeconfig": kubeconfig, "host": "https://awx:6443/"}, environ={})
    assert (host_only.host, _authorization(host_only)) == ("https://awx:6443", "Bearer from-kubeconfig")
    key_only = A.connect_with_auth({"kubeconfig": kubeconfig, "api_key": "from-option"}, environ={})
    assert (key_only.host, _authorization(key_only)) == ("https://kubeconfig:6443", "Bearer from-option")


def test_host_and_api_key_read_no_kubeconfig_even_a_broken_one(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text("{not yaml")
    kube = A.connect_with_auth({"host": "https://awx:6443", "api_key": "t", "kubeconfig": str(broken)},
                               environ={"KUBECONFIG": str(broken)})
    assert (kube.host, _authorization(kube)) == ("https://awx:6443", "Bearer t")


def test_no_options_prefer_the_pods_service_account_to_a_kubeconfig(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("pod-token")
    monkeypatch.setattr(A.K, "SERVICE_ACCOUNT_DIR", str(account))
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
               "KUBECONFIG": _kubeconfig(tmp_path, "https://kubeconfig:6443", "k")}
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    kube = A.connect_with_auth({}, environ=environ)
    assert (kube.host, _authorization(kube)) == ("https://10.0.0.1:443", "Bearer pod-token")
    named = A.connect_with_auth({"context": "c"}, environ=environ)  # a context means the kubeconfig
    assert named.host == "https://kubeconfig:6443"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert A.connect_with_auth({}, environ=environ).host == "https://kubeconfig:6443"  # not in a pod


def test_a_kubeconfig_given_as_a_dict(tmp_path: Path) -> None:
    config = yaml.safe_load(Path(_kubeconfig(tmp_path, "https://inline:6443", "inline")).read_text())
    kube = A.connect_with_auth({"kubeconfig": config}, environ={})
    assert (kube.host, _authorization(kube)) == ("https://inline:6443", "Bearer inline")


@pytest.mark.parametrize(("no_proxy", "used"), [(None, True), ("other", True), ("example.com", False),
                                                 ("awx.example.com", False), ("*", False)])
def test_proxy_unless_no_proxy_bypasses_it(no_proxy: str | None, used: bool) -> None:
    auth = {"proxy": "http://proxy:3128", "no_proxy": no_proxy}
    kube = A.connect_with_auth({"host": "https://awx.example.com:6443", "api_key": "t", **auth}, environ={})
    assert (type(kube._transport.pool).__name__ == "ProxyManager") == used


def test_secrets_from_the_environment_are_masked(ours: Any) -> None:
    auth = {"api_key": "t0ken", "password": "pw", "proxy_headers": {"proxy_basic_auth": "u:p", "user_agent": "ua"}}
    assert sorted(ours.secrets_of(auth)) == ["pw", "t0ken", "u:p"]


def test_the_resolution_tables_are_the_collections_spec(ours: Any) -> None:
    """lmeval_setup's resolve_auth (the modules' and the CLI's) reads the options the collection declares."""
    assert A.AUTH_ARG_MAP == ours.AUTH_ARG_MAP
    assert {name for name, spec in ours.AUTH_ARG_SPEC.items() if spec.get("type") == "bool"} == A.BOOL_OPTIONS
    assert tuple(ours.AUTH_PROXY_HEADERS_SPEC) == A.PROXY_HEADER_KEYS
    assert all(spec.get("type", "str") == "str" for spec in ours.AUTH_PROXY_HEADERS_SPEC.values())


def _no_k8s_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(name)


def test_the_cli_connection_takes_host_and_api_key_over_its_kubeconfig(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """--kubeconfig (or KUBECONFIG) is the task's kubeconfig option: host with api_key from the environment
    reads none, as kubernetes.core; the token is the bearer, verify_ssl false skips verification."""
    _no_k8s_auth(monkeypatch)
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("not: [a kubeconfig")
    monkeypatch.setenv("K8S_AUTH_HOST", "https://awx.example:6443/")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "t0k")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "false")
    kube = A.connect_cli(str(broken), None, 7.0)
    assert kube.host == "https://awx.example:6443" and kube.request_timeout == 7.0
    headers: dict[str, str] = {}
    kube._transport.authorize(headers, "/api", "GET")
    assert headers["Authorization"] == "Bearer t0k"


def test_the_cli_connection_without_k8s_auth_is_kubectls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No K8S_AUTH_* variable (or only empty ones): Kube.connect's rules and messages, unchanged."""
    from lmeval_setup.errors import ClusterError

    _no_k8s_auth(monkeypatch)
    monkeypatch.setenv("K8S_AUTH_HOST", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match=r"no kubeconfig at .* and not running in a cluster"):
        A.connect_cli(None, None)
