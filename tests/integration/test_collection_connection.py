"""Connection parity with kubernetes.core (issue 13 item 2), against the real apiserver.

AWX's "OpenShift or Kubernetes API Bearer Token" credential sets only K8S_AUTH_HOST, K8S_AUTH_API_KEY and
K8S_AUTH_VERIFY_SSL. With exactly that (and a KUBECONFIG that points at a dead port, which kubernetes.core
ignores when host and api_key are set), a play whose kubernetes.core.k8s task writes and whose lmeval.setup
tasks read and write must do all of it on that cluster, as that token's ServiceAccount (the apiserver's
audit log says who did what), and print the token nowhere, even at -vvv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.kube.client import Kube, resource_path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NAMESPACE = "s-k8s-auth"
ACCOUNT = "awx"
IDENTITY = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"

pytestmark = pytest.mark.controlplane


def _ensure(kube: Kube, path: str, body: dict[str, Any]) -> None:
    from lmeval_setup.kube.client import ApiError

    try:
        kube.create(path, body)
    except ApiError as exc:
        if not exc.conflict:
            raise


@pytest.fixture(scope="module")
def awx_token(controlplane: Any) -> str:
    """A ServiceAccount that may edit its namespace, and a token for it (what the AWX credential holds)."""
    admin = Kube.connect(str(controlplane.kubeconfig))
    _ensure(admin, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _ensure(admin, resource_path("", "v1", "serviceaccounts", NAMESPACE),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT}})
    _ensure(admin, resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", NAMESPACE), {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "awx-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}]})
    answer = admin.create(resource_path("", "v1", "serviceaccounts", NAMESPACE, ACCOUNT, "token"),
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": {"expirationSeconds": 3600}})
    return str(answer["status"]["token"])


def _elsewhere_kubeconfig(path: Path) -> Path:
    """A valid kubeconfig for a cluster that is not there (port 1 refuses): reaching it means unreachable."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
        "clusters": [{"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "elsewhere", "user": {"token": "not-the-awx-token"}}],
        "contexts": [{"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "elsewhere"}}]}))
    return path


def _run_play(tasks: list[dict[str, Any]], env_extra: dict[str, str],
              tmp_path: Path) -> subprocess.CompletedProcess[str]:
    play = [{"name": "AWX-style connection", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "KUBECONFIG"))}
    env.update({"PATH": f"{VENV_BIN}:{env.get('PATH', '')}", "HOME": str(tmp_path), "ANSIBLE_CONFIG":
                str(REPO / "ansible.cfg"), "ANSIBLE_HOME": str(tmp_path / ".ansible"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "TMPDIR": str(tmp_path), **env_extra})
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-vvv", "-i", "localhost,", "-c", "local", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)


def _audited(controlplane: Any, user: str) -> set[tuple[str, str, str]]:
    """(verb, resource, name) of every request `user` made, from the apiserver's audit log."""
    seen = set()
    for line in Path(controlplane.audit_log_path).read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") == user and event.get("stage") == "ResponseComplete":
            ref = event.get("objectRef") or {}
            seen.add((event["verb"], ref.get("resource", ""), ref.get("name", "")))
    return seen


def test_k8s_auth_environment_alone_reaches_the_same_cluster_as_kubernetes_core(
        controlplane: Any, awx_token: str, tmp_path: Path) -> None:
    target = {"api_version": "v1", "kind": "ConfigMap", "plural": "configmaps", "name": "from-k8s",
              "namespace": NAMESPACE}
    tasks = [
        {"name": "kubernetes.core writes", "kubernetes.core.k8s": {"state": "present", "definition": {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-k8s", "namespace": NAMESPACE},
            "data": {"a": "1"}}}},
        {"name": "lmeval.setup reads the same object and writes its revert record",
         "lmeval.setup.lmeval_revert": {"namespace": NAMESPACE, "record": "s-revert", "target": target,
                                        "patch": {"data": {"a": "2"}}}},
        # A bare control plane has no OpenShift AI: reaching it says no_openshift_ai, the kubeconfig's
        # cluster would say unreachable.
        {"name": "lmeval.setup detects", "lmeval.setup.lmeval_facts": {}, "register": "facts",
         "ignore_errors": True},
        {"name": "show", "ansible.builtin.debug": {"msg": "REASON={{ facts.reason }}"}},
    ]
    env = {"K8S_AUTH_HOST": controlplane.server, "K8S_AUTH_API_KEY": awx_token, "K8S_AUTH_VERIFY_SSL": "false",
           "KUBECONFIG": str(_elsewhere_kubeconfig(tmp_path / "elsewhere.kubeconfig"))}
    proc = _run_play(tasks, env, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "REASON=no_openshift_ai" in output, output[-4000:]
    assert awx_token not in output, "the bearer token leaked into ansible-playbook -vvv output"

    admin = Kube.connect(str(controlplane.kubeconfig))
    record = admin.get(resource_path("", "v1", "configmaps", NAMESPACE, "s-revert"))
    assert "from-k8s" in json.dumps(record["data"]), record
    done = _audited(controlplane, IDENTITY)
    assert ("create", "configmaps", "from-k8s") in done or ("create", "configmaps", "") in done, done
    assert ("get", "configmaps", "from-k8s") in done, "lmeval_revert read the object kubernetes.core wrote"
    assert any(verb in ("create", "patch", "update") and name in ("s-revert", "") for verb, resource, name in done
               if resource == "configmaps" and name != "from-k8s"), done


def test_host_with_api_key_ignores_the_kubeconfig_given_as_option(controlplane: Any, awx_token: str,
                                                                  tmp_path: Path) -> None:
    """kubernetes.core reads no kubeconfig when host and api_key authenticate on their own, even one named
    in the task; and an option of the task beats its K8S_AUTH_* variable."""
    elsewhere = str(_elsewhere_kubeconfig(tmp_path / "elsewhere.kubeconfig"))
    tasks = [
        {"name": "kubeconfig in the task, host and token in the environment",
         "lmeval.setup.lmeval_facts": {"kubeconfig": elsewhere}, "register": "a", "ignore_errors": True},
        {"name": "host in the task beats K8S_AUTH_HOST",
         "lmeval.setup.lmeval_facts": {"kubeconfig": str(controlplane.kubeconfig), "host": "https://127.0.0.1:1"},
         "register": "b", "ignore_errors": True},
        {"name": "show", "ansible.builtin.debug": {"msg": "A={{ a.reason }} B={{ b.reason }}"}},
    ]
    env = {"K8S_AUTH_HOST": controlplane.server, "K8S_AUTH_API_KEY": awx_token,
           "K8S_AUTH_SSL_CA_CERT": str(Path(controlplane.certs) / "ca.crt")}
    proc = _run_play(tasks, env, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    # b: the task's host wins over K8S_AUTH_HOST (and the kubeconfig is not read), so it reaches nothing
    assert "A=no_openshift_ai B=unreachable" in output, output[-4000:]
    assert awx_token not in output


def test_impersonation_reaches_the_apiserver_as_kubernetes_core_sends_it(controlplane: Any) -> None:
    """impersonate_user / impersonate_groups (K8S_AUTH_IMPERSONATE_*): one Impersonate-Group header per group,
    which the apiserver reports back as the identity's groups (a comma-joined header would be one group)."""
    from lmeval_setup.bootstrap.k8s_auth import connect_with_auth

    kube = connect_with_auth({"kubeconfig": str(controlplane.kubeconfig)},
                             {"impersonate_user": "alice", "impersonate_groups": ["team-a", "team-b"]}, environ={})
    review = kube.create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    user = review["status"]["userInfo"]
    assert user["username"] == "alice"
    assert {"team-a", "team-b"} <= set(user["groups"]), user


def _cli(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "KUBECONFIG", "LMEVAL_"))}
    env.update({"HOME": str(tmp_path), **env_extra})
    return subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_clis_own_commands_read_k8s_auth_as_the_modules_do(controlplane: Any, awx_token: str,
                                                               tmp_path: Path) -> None:
    """issue 13 (leftover 4): the same AWX credential, KUBECONFIG at a dead port. doctor, lint --cluster and
    results reach the token's cluster as its ServiceAccount (the apiserver names it; the audit log shows its
    reads), print no token even with -v, and never say "unreachable" (exit 3) as the kubeconfig's cluster would.
    The ServiceAccount may not read LMEvalJobs there (no CRD; `admin` of its namespace): doctor and results
    stop with that cluster's 403, which names the identity."""
    elsewhere = str(_elsewhere_kubeconfig(tmp_path / "elsewhere.kubeconfig"))
    awx = {"K8S_AUTH_HOST": controlplane.server, "K8S_AUTH_API_KEY": awx_token, "K8S_AUTH_VERIFY_SSL": "false",
           "KUBECONFIG": elsewhere}
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({
        "apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob", "metadata": {"name": "j"},
        "spec": {"model": "hf", "modelArgs": [{"name": "pretrained", "value": "m"}],
                 "taskList": {"taskNames": ["arc_easy"]}}}))
    commands = {"doctor": ["doctor", "-n", NAMESPACE, "-v"], "results": ["results", "-n", NAMESPACE, "-v"],
                "lint": ["lint", "--cluster", "-n", NAMESPACE, "-v", str(job)]}
    before = _requests_of(controlplane)
    for name, args in commands.items():
        proc = _cli(args, awx, tmp_path)
        output = proc.stdout + proc.stderr
        assert awx_token not in output, f"{name} printed the bearer token"
        assert proc.returncode != 3 and "127.0.0.1:1" not in output, (name, output[-3000:])
        assert "api: GET " in proc.stderr, (name, output[-3000:])  # -v: it made its requests
        if name != "lint":
            assert f'User "{IDENTITY}"' in proc.stderr, (name, output[-3000:])
    assert _requests_of(controlplane) > before  # every command's reads, as the token's identity
    # Without the credential the same command goes to the kubeconfig's cluster: unreachable, exit 3.
    assert _cli(commands["doctor"], {"KUBECONFIG": elsewhere}, tmp_path).returncode == 3


def test_bootstraps_no_op_fast_path_reads_the_k8s_auth_cluster(controlplane: Any, awx_token: str,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (bootstrap answered from one read, without Ansible) reads the cluster the role's modules
    would: the token's, not the dead kubeconfig's. A bare apiserver is no no-op, so the role runs after it."""
    from types import SimpleNamespace

    from lmeval_setup.bootstrap import noop

    elsewhere = str(_elsewhere_kubeconfig(tmp_path / "elsewhere.kubeconfig"))
    for name in [k for k in os.environ if k.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", elsewhere)
    monkeypatch.setenv("K8S_AUTH_HOST", controlplane.server)
    monkeypatch.setenv("K8S_AUTH_API_KEY", awx_token)
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "false")
    before = _requests_of(controlplane, "customresourcedefinitions")
    opts = SimpleNamespace(playbook="bootstrap", inventory=None, dry_run=False, verbosity=0, allow_online=None,
                           allow_code_execution=None, kubeconfig=elsewhere, context=None, request_timeout=None)
    assert noop.answer(opts) is None  # no OpenShift AI there (or not readable by the token): not a no-op
    # its first read (platform.detect's CRD get) went to the token's cluster as the token's identity
    assert _requests_of(controlplane, "customresourcedefinitions") > before


def _requests_of(controlplane: Any, resource: str | None = None) -> int:
    """How many requests (of `resource`, or any) the token's identity has made, by the apiserver's audit log."""
    count = 0
    for line in Path(controlplane.audit_log_path).read_text().splitlines():
        event = json.loads(line)
        if (event.get("user", {}).get("username") == IDENTITY and event.get("stage") == "ResponseComplete"
                and resource in (None, (event.get("objectRef") or {}).get("resource"))):
            count += 1
    return count
