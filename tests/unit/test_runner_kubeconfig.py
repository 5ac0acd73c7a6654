"""bootstrap/revert check the kubeconfig they were given offline, before ansible-runner starts: the modules'
kubeconfig option is no_log (kubernetes.core's spec), so a failure Ansible reported masked the very path it
had to name ("No configuration found at ********"). Now a missing, unparsable or context-less kubeconfig is
one failed cluster naming the file, exit 3, and Ansible is never started."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmeval_setup.bootstrap import runner
from lmeval_setup.bootstrap.runner import RunOptions

GOOD = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "sekret-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


@pytest.fixture(autouse=True)
def no_ansible(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)

    def refuse(**_kwargs: object) -> None:
        raise AssertionError("ansible-runner started")

    import ansible_runner
    monkeypatch.setattr(ansible_runner, "run", refuse)


@pytest.mark.parametrize(("body", "context", "reason", "message"), [
    (None, None, "bad_kubeconfig", r"kubeconfig \S*/kc: Invalid kube-config file\. No configuration found\.$"),
    ("clusters: [{name: a\nusers: ::\n", None, "bad_kubeconfig", r"kubeconfig \S*/kc is not YAML: .*line \d+"),
    ({"apiVersion": "v1", "kind": "Config"}, None, "wrong_context", r"kubeconfig \S*/kc: .*current-context"),
    (GOOD, "nope", "wrong_context", r"kubeconfig \S*/kc: .*name nope in kube-config/contexts"),
])
@pytest.mark.parametrize("playbook", ["bootstrap", "revert"])
def test_an_unusable_kubeconfig_fails_naming_its_path_before_ansible_starts(
        tmp_path: Path, playbook: str, body: object, context: str | None, reason: str, message: str) -> None:
    import re

    path = tmp_path / "kc"
    if body is not None:
        path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    result = runner.run(RunOptions(playbook, kubeconfig=str(path), context=context))
    assert result.exit_code == 3
    (name, cluster), = result.clusters.items()
    assert name == (context or "cluster")
    assert cluster.failure is not None and cluster.failure.reason == reason
    assert re.search(message, cluster.failure.msg), cluster.failure.msg
    assert str(path) in cluster.failure.msg


def test_a_usable_kubeconfig_and_context_pass_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(GOOD))
    assert runner.kubeconfig_failure(RunOptions("bootstrap", kubeconfig=str(path))) is None
    assert runner.kubeconfig_failure(RunOptions("bootstrap", kubeconfig=str(path), context="c")) is None
    # without --context the modules take K8S_AUTH_CONTEXT, as kubernetes.core does
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "nope")
    failure = runner.kubeconfig_failure(RunOptions("bootstrap", kubeconfig=str(path)))
    assert failure is not None and "name nope" in failure.steps[0].msg


def test_no_check_where_the_modules_would_not_read_the_kubeconfig(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(tmp_path / "missing")
    # an inventory names each cluster's connection (host variables are Ansible's to resolve)
    assert runner.kubeconfig_failure(RunOptions("bootstrap", inventory="inv.yml")) is None
    # a --limit may leave the one host out: ansible-playbook decides (no match is a usage error, exit 2)
    assert runner.kubeconfig_failure(RunOptions("bootstrap", kubeconfig=missing, limit="nomatch")) is None
    # host with api_key authenticate on their own: kubernetes.core reads no kubeconfig, even a broken one
    monkeypatch.setenv("K8S_AUTH_HOST", "https://127.0.0.1:1")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "sekret-token")
    assert runner.kubeconfig_failure(RunOptions("bootstrap", kubeconfig=missing)) is None
