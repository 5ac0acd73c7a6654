"""Exits that mean what happened, against a sandbox on a real apiserver (issue 16 items 7-9).

- SIGINT / SIGTERM in the middle of a bootstrap: forwarded to ansible-playbook's process group and waited
  for; exit 130 / 143, one error line, the cluster's JSON entry failed, no ansible-playbook left running.
- --timeout: exit 5, one error line, JSON ok: false, nothing left running.
- --limit reaches ansible-playbook as a pattern (a run limited to the cluster runs it).
- KUBECONFIG=a:b with the context defined in b: every cluster command reaches the cluster kubectl
  would (the real kubectl binary says which), none exits 3.
- A namespace-scoped identity: the doctor says the cluster layer was not readable (LME111, info), not
  "no DataScienceCluster" (LME110, exit 4), and exits by the job findings alone, live and from --collect.

One control plane and one rhoai-2.22 sandbox for the module: the interrupted runs leave the half state any
re-run converges from, which the later tests do not depend on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bootstrap_support import sandbox
from schemasupport import validate
from testsupport import PROGRESS_LINE as STAMP
from testsupport import error_lines, require_controlplane_binaries, wait_for

from lmeval_setup.kube.client import Kube

pytestmark = pytest.mark.controlplane
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
TEAM_NS = "team-a"  # the namespace of the merged kubeconfig's context
SCOPED_NS, SCOPED_USER = "team-b", "team-b-user"  # a namespace-scoped identity's only namespace (no jobs)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("exits-plane"))
    plane.start()
    try:
        with sandbox(plane, "rhoai-2.22", "fresh") as sb:
            sb.plane = plane
            yield sb
    finally:
        plane.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


def processes_mentioning(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose command line contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append((int(entry), cmdline))
    return found


class Run:
    """The CLI in a subprocess with its own TMPDIR, so ansible-runner's private data dir (which every
    ansible-playbook command line names) tells this run's processes from anyone else's."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "TMPDIR": str(tmp)})
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def playbook_processes(self) -> list[tuple[int, str]]:
        return [p for p in processes_mentioning(str(self.tmp)) if "ansible-playbook" in p[1]]

    def finish(self, timeout: float = 120) -> tuple[int, dict[str, Any]]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code, json.loads(out)


@pytest.mark.parametrize(("signum", "code", "words"), [(signal.SIGINT, 130, "interrupted (SIGINT)"),
                                                       (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_signal_mid_run_stops_ansible_and_exits_128_plus_signal(box: Any, tmp_path: Path, signum: int, code: int,
                                                                words: str) -> None:
    run = Run(tmp_path / "run", "bootstrap", "--kubeconfig", box.kubeconfig, "-o", "json")
    # Mid-run: the first step has reported (a timestamped line, stderr being a pipe) and ansible-playbook runs.
    wait_for("the first step line", lambda: any(STAMP.match(line) for line in run.stderr), timeout=180)
    assert run.playbook_processes(), "ansible-playbook should be running"
    run.proc.send_signal(signum)
    rc, doc = run.finish()
    errors = error_lines("\n".join(run.stderr))
    assert rc == code, run.stderr
    assert len(errors) == 1 and errors[0].startswith("error: ") and words in errors[0], run.stderr
    assert "Traceback" not in "\n".join(run.stderr)
    cluster = doc["clusters"]["cluster"]
    assert doc["exit_code"] == code and cluster["ok"] is False and cluster["exit_code"] == code, cluster
    assert cluster["stats"]["failed"] >= 1
    validate(doc, "bootstrap")  # a cut run's JSON keeps the documented shape
    assert not processes_mentioning(str(run.tmp)), "a process of the interrupted run survived"


def test_timeout_exits_5_with_one_line_and_ok_false(box: Any, tmp_path: Path) -> None:
    """Before: exit 5 with nothing on stderr while the JSON said ok: true."""
    run = Run(tmp_path / "run", "bootstrap", "--kubeconfig", box.kubeconfig, "-o", "json", "--timeout", "4")
    rc, doc = run.finish()
    errors = error_lines("\n".join(run.stderr))
    assert rc == 5, run.stderr
    assert len(errors) == 1 and "timed out after 4 s (--timeout)" in errors[0], run.stderr
    cluster = doc["clusters"]["cluster"]
    assert cluster["ok"] is False and cluster["exit_code"] == 5 and doc["exit_code"] == 5, doc
    validate(doc, "bootstrap")
    assert not processes_mentioning(str(run.tmp)), "a process of the timed-out run survived"


def test_progress_lines_are_timestamped_and_limit_selects_the_host(box: Any) -> None:
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", box.kubeconfig, "--dry-run", "--limit", "clu*"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress = [line for line in proc.stderr.splitlines() if STAMP.match(line)]
    assert progress and all("[cluster]" in line for line in progress), proc.stderr
    assert "cluster:" in proc.stdout and "would change=" in proc.stdout, proc.stdout


# -- KUBECONFIG=a:b ----------------------------------------------------------------------------------------
def split_kubeconfig(source: str, directory: Path) -> str:
    """a: the cluster and user, and current-context `real`; b: the contexts `real` (namespace team-a)
    and `decoy` (a dead server), and current-context `decoy`, which kubectl ignores (first file wins)."""
    config = yaml.safe_load(Path(source).read_text())
    cluster, user = config["clusters"][0], config["users"][0]
    a = {"apiVersion": "v1", "kind": "Config", "current-context": "real", "clusters": [cluster], "users": [user]}
    b = {"apiVersion": "v1", "kind": "Config", "current-context": "decoy",
         "clusters": [{"name": "decoy", "cluster": {"server": "https://127.0.0.1:1"}}],
         "contexts": [{"name": "real", "context": {"cluster": cluster["name"], "user": user["name"],
                                                   "namespace": TEAM_NS}},
                      {"name": "decoy", "context": {"cluster": "decoy", "user": user["name"]}}]}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "a").write_text(yaml.safe_dump(a))
    (directory / "b").write_text(yaml.safe_dump(b))
    return f"{directory / 'a'}{os.pathsep}{directory / 'b'}"


def test_every_cluster_command_merges_kubeconfig_files_like_kubectl(box: Any, tmp_path: Path) -> None:
    """Before: only the first file was read, so every command exited 3."""
    from lmeval_setup.sandbox.controlplane import kubectl_path

    merged = split_kubeconfig(box.kubeconfig, tmp_path / "kc")
    env = {**os.environ, "KUBECONFIG": merged}
    kubectl = kubectl_path()
    if kubectl.exists():  # the reference: what kubectl itself makes of the same two files
        current = subprocess.run([str(kubectl), "config", "current-context"], env=env, capture_output=True,
                                 text=True, timeout=30)
        assert current.stdout.strip() == "real", current.stderr
    _ensure_namespace(box.kube, TEAM_NS)
    if box.kube.get_or_none(f"{JOBS}/{TEAM_NS}/lmevaljobs/ns-probe") is None:
        box.kube.create(f"{JOBS}/{TEAM_NS}/lmevaljobs", _job("ns-probe"))
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(_job("lint-me")))
    commands = {
        "doctor": ["doctor", "-o", "json"],
        "results": ["results", "-o", "json"],
        "lint": ["lint", "--cluster", str(manifest)],
        "provision": ["provision", "-n", TEAM_NS, "--teardown"],
        "bootstrap": ["bootstrap", "--dry-run", "-o", "json"],
    }
    for name, args in commands.items():
        proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode not in (3, 70), (name, proc.stderr)
        for wrong in ("Traceback", "cannot reach", "kubeconfig"):
            assert wrong not in proc.stderr, (name, proc.stderr)
        if name == "results":  # no job has results yet: said about the context's namespace, from b
            assert proc.returncode == 2 and f"namespace {TEAM_NS}" in proc.stderr, proc.stderr
        else:
            assert proc.returncode in (0, 1), (name, proc.stdout, proc.stderr)
    # no -n: the namespace of context `real` (defined in b) is the default, as with kubectl
    doctor = subprocess.run([*CLI, "doctor", "-o", "json"], env=env, capture_output=True, text=True, timeout=120)
    targets = {(f.get("target") or {}).get("namespace") for f in json.loads(doctor.stdout)["findings"]}
    assert TEAM_NS in targets, doctor.stdout


def test_request_timeout_applies_to_the_requests(box: Any) -> None:
    proc = subprocess.run([*CLI, "doctor", "-n", TEAM_NS, "--kubeconfig", box.kubeconfig, "--request-timeout", "20s"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    # an apiserver that never answers: the request is given up after --request-timeout, not 30 s
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        dead = Path(box.workdir) / "silent.kubeconfig"
        config = yaml.safe_load(Path(box.kubeconfig).read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{silent.getsockname()[1]}"
        dead.write_text(yaml.safe_dump(config))
        started = time.monotonic()
        proc = subprocess.run([*CLI, "doctor", "-n", TEAM_NS, "--kubeconfig", str(dead), "--request-timeout", "1s"],
                              capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        silent.close()
    assert proc.returncode == 3, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "timed out" in lines[0] and "--request-timeout" in lines[0], proc.stderr
    assert took < 20, took


# -- a namespace-scoped identity -------------------------------------------------------------------------------
JOBS = "/apis/trustyai.opendatahub.io/v1alpha1/namespaces"


def _ensure_namespace(kube: Kube, name: str) -> None:
    if kube.get_or_none(f"/api/v1/namespaces/{name}") is None:
        kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _job(name: str) -> dict[str, Any]:
    # remote endpoint without num_concurrent/max_retries/timeout: LME029 (info) names the job's namespace
    return {"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
            "metadata": {"name": name, "namespace": TEAM_NS},
            "spec": {"model": "local-completions", "taskList": {"taskNames": ["arc_easy"]}, "allowOnline": True,
                     "modelArgs": [{"name": "model", "value": "granite"},
                                   {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"},
                                   {"name": "tokenizer", "value": "ibm-granite/granite-3.1-8b-instruct"}]}}


def _namespace_scoped_kubeconfig(box: Any, path: Path) -> Path:
    kube = box.kube
    _ensure_namespace(kube, SCOPED_NS)
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{SCOPED_NS}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "lmeval-user", "namespace": SCOPED_NS},
            "rules": [{"apiGroups": ["trustyai.opendatahub.io"], "resources": ["lmevaljobs"],
                       "verbs": ["get", "list", "watch"]},
                      {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "persistentvolumeclaims"],
                       "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "lmeval-user", "namespace": SCOPED_NS},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lmeval-user"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": SCOPED_USER}]}
    for plural, body in (("roles", role), ("rolebindings", binding)):
        if kube.get_or_none(f"{rbac}/{plural}/lmeval-user") is None:
            kube.create(f"{rbac}/{plural}", body)
    return box.plane.kubeconfig_for(SCOPED_USER, path=path)


def _exit_by(findings: list[dict[str, Any]], fail_on: str) -> int:
    order = {"info": 0, "warning": 1, "error": 2}
    return int(any(order[f["severity"]] >= order[fail_on] for f in findings if f["id"] != "LME111"))


def test_namespace_scoped_doctor_says_cluster_layer_unreadable(box: Any, tmp_path: Path) -> None:
    """Before: LME110 'no DataScienceCluster' and exit 4 for a user who may only look at its namespace."""
    kubeconfig = _namespace_scoped_kubeconfig(box, tmp_path / "team.kubeconfig")
    if box.kube.get_or_none(f"{JOBS}/{SCOPED_NS}/lmevaljobs/scoped-job") is None:
        box.kube.create(f"{JOBS}/{SCOPED_NS}/lmevaljobs", {**_job("scoped-job"),
                                                          "metadata": {"name": "scoped-job", "namespace": SCOPED_NS}})
    user = Kube.connect(str(kubeconfig))
    wait_for("the Role to apply", lambda: user.can_i("list", "trustyai.opendatahub.io", "lmevaljobs", SCOPED_NS))
    assert not user.can_i("list", "datasciencecluster.opendatahub.io", "datascienceclusters")
    args = [*CLI, "doctor", "--kubeconfig", str(kubeconfig), "-n", SCOPED_NS, "-o", "json"]
    live = subprocess.run([*args, "--collect", str(tmp_path / "collected")], capture_output=True, text=True,
                          timeout=120)
    findings = json.loads(live.stdout)["findings"]
    rules = {f["id"] for f in findings}
    assert "LME111" in rules and "LME110" not in rules, rules
    assert any(f["id"] == "LME111" and f["severity"] == "info" for f in findings)
    assert any((f.get("target") or {}).get("name") == "scoped-job" for f in findings), "the job was checked"
    assert live.returncode == _exit_by(findings, "error"), live.stdout + live.stderr
    # --collect then --from-dir: the same findings (the reason travels in the snapshot's notes)
    offline = subprocess.run([*CLI, "doctor", "--from-dir", str(tmp_path / "collected"), "-o", "json"],
                             capture_output=True, text=True, timeout=120)
    assert {f["id"] for f in json.loads(offline.stdout)["findings"]} == rules, offline.stderr
    assert offline.returncode == live.returncode
    # the exit code is the jobs' alone: LME111 does not count, even at --fail-on info
    info = subprocess.run([*args, "--fail-on", "info"], capture_output=True, text=True, timeout=120)
    assert info.returncode == _exit_by(json.loads(info.stdout)["findings"], "info"), info.stdout
