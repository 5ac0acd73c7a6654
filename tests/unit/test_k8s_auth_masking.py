"""The lmeval.setup modules keep kubernetes.core's `kubeconfig` option (no_log: it may be an inline dict with
credentials) but mask only its secrets. Before, Ansible masked the whole value: a kubeconfig path in the one
line that must name it ("No configuration found at ********"), and of an inline dict every name and URL.
Each test runs a real module (lmeval_facts) in process, as Ansible runs it, and reads its JSON result."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sha256~k8s-masking-secret-token"
KEY_DATA = "LS0tLS1CRUdJTi1wcml2YXRlLWtleS1kYXRh"
INLINE = {
    "apiVersion": "v1", "kind": "Config", "current-context": "default",
    "clusters": [{"name": "default", "cluster": {"server": "https://api.example.test:6443"}}],
    "users": [{"name": "admin", "user": {"token": TOKEN, "client-key-data": KEY_DATA}}],
    "contexts": [{"name": "default", "context": {"cluster": "default", "user": "admin"}}],
}


@pytest.fixture(scope="module")
def facts_module() -> Iterator[Any]:
    # ansible_collections is a namespace package: the repo's collections join the site-packages ones
    sys.path.append(str(REPO / "ansible" / "collections"))
    try:
        yield importlib.import_module("ansible_collections.lmeval.setup.plugins.modules.lmeval_facts")
    finally:
        sys.path.remove(str(REPO / "ansible" / "collections"))


def run(facts_module: Any, args: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    from ansible.module_utils import basic

    for name in ("KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_CONTEXT", "K8S_AUTH_KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")  # the JSON profile a controller sends modules
    with pytest.raises(SystemExit):
        facts_module.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_a_missing_kubeconfig_file_is_named_in_the_failure(facts_module: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing.kubeconfig"
    result, _ = run(facts_module, {"kubeconfig": str(path)}, monkeypatch, capsys)
    assert result["failed"] and result["reason"] == "bad_kubeconfig", result
    assert result["msg"].startswith(f"kubeconfig {path}: Invalid kube-config file"), result["msg"]
    assert result["invocation"]["module_args"]["kubeconfig"] == str(path)


def test_an_inline_kubeconfig_keeps_its_secrets_masked_and_shows_the_rest(facts_module: Any,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    result, out = run(facts_module, {"kubeconfig": INLINE, "context": "nope"}, monkeypatch, capsys)
    assert result["failed"] and result["reason"] == "wrong_context", result
    assert result["msg"].startswith("kubeconfig (inline): "), result["msg"]
    assert "name nope" in result["msg"]
    assert TOKEN not in out and KEY_DATA not in out
    shown = result["invocation"]["module_args"]["kubeconfig"]
    user = shown["users"][0]["user"]
    assert TOKEN not in json.dumps(user) and KEY_DATA not in json.dumps(user), user
    # names and the server are no secret: before, every one was masked, and so was "default" everywhere
    assert shown["contexts"][0]["name"] == "default"
    assert shown["clusters"][0]["cluster"]["server"] == "https://api.example.test:6443"


def test_a_value_another_no_log_option_holds_stays_masked(facts_module: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A password that happens to equal the kubeconfig path is still a password."""
    path = str(tmp_path / "missing.kubeconfig")
    _, out = run(facts_module, {"kubeconfig": path, "password": path}, monkeypatch, capsys)
    assert path not in out
