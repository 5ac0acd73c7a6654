"""Bad input: every command that talks to a cluster, given a wrong kubeconfig, an unreachable or hostile
server, a cluster without OpenShift AI or an empty namespace, says so in one line with the documented exit
code, never a traceback, and writes nothing. Lint given files that are not manifests exits 2 with file:line.

Commands run as subprocesses, so exit codes and stderr are what a user sees. The cluster is an own bare
control plane (no OpenShift AI) with the audit log on; the identity the commands use on it, `bad-input`,
is a cluster admin whose writes the audit log would show. The last test installs a bootstrapped sandbox
on the same control plane for the empty-namespace row.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import error_lines, require_controlplane_binaries

pytestmark = pytest.mark.controlplane

USER = "bad-input"
NAMESPACE = "bad-input"
# Requests that create nothing stored: access reviews answer a question.
NOT_WRITES = ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews")
MANIFEST = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata: {name: job, namespace: bad-input}
spec:
  model: local-completions
  modelArgs:
    - {name: model, value: granite}
    - {name: base_url, value: 'http://granite-predictor:8080/v1/completions'}
    - {name: tokenizer, value: ibm-granite/granite-3.1-8b-instruct}
  taskList: {taskNames: [arc_easy]}
"""
RUN = ("--model", "granite", "--base-url", "http://granite-predictor:8080/v1/completions",
       "--tokenizer", "ibm-granite/granite-3.1-8b-instruct", "--tasks", "arc_easy")
# name -> arguments; {manifest} is replaced by the lint input's path
COMMANDS: dict[str, tuple[str, ...]] = {
    "doctor": ("doctor",),
    "lint": ("lint", "--cluster", "{manifest}"),
    "bootstrap": ("bootstrap",),
    "revert": ("revert",),
    "provision": ("provision", "-n", NAMESPACE, *RUN),
    "teardown": ("provision", "-n", NAMESPACE, "--teardown"),
    "results": ("results",),
}
# bootstrap and revert prefix the inventory host: "cluster", or the context ("error: nope: ...")
E = r"^error: ([\w-]+: )?"
# case -> (exit code, stderr pattern) for every command, then per-command exceptions
CASES: dict[str, tuple[int, str]] = {
    "missing-file": (3, E + r"kubeconfig \S*missing\.kubeconfig: Invalid kube-config file"),
    "not-yaml": (3, E + r"kubeconfig \S*not-yaml\.kubeconfig is not YAML: .*line \d+"),
    "missing-fields": (3, E + r"kubeconfig \S*no-fields\.kubeconfig: .*current-context"),
    "wrong-context": (3, E + r"kubeconfig \S*: .*name nope"),
    "unreachable": (3, E + r"cannot reach the cluster at https://127\.0\.0\.1:\d+: connection refused$"),
    "other-ca": (3, E + r"unauthorised: the cluster rejected the credentials"),
    "no-openshift-ai": (4, E + r".*(no DataScienceCluster API|does not serve LMEvalJobs|"
                               r"OpenShift AI .* not installed)"),
}
EXCEPTIONS: dict[tuple[str, str], tuple[int, str]] = {
    # lint still lints: the missing platform is a note, the unknown namespace a finding
    ("no-openshift-ai", "lint"): (1, r"^note: cluster permissions not checked: .*no DataScienceCluster API"),
    # nothing provision made is there, so nothing to remove
    ("no-openshift-ai", "teardown"): (0, r"^teardown: Namespace/bad-input: absent$"),
}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane

    require_controlplane_binaries()
    control = ControlPlane(tmp_path_factory.mktemp("bad-input-plane"), audit_log=True)
    control.start()
    try:
        yield control
    finally:
        control.stop(grace=0.0)  # throw-away plane: no 3 s SIGTERM grace


@pytest.fixture(scope="module")
def inputs(plane: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """case -> (kubeconfig path, extra args), plus the lint manifest."""
    from lmeval_setup.sandbox.controlplane import free_port
    from lmeval_setup.sandbox.pki import TinyCA

    root = tmp_path_factory.mktemp("bad-input")
    admin = plane.kubeconfig_for(USER, ("system:masters",), path=root / "admin.kubeconfig")
    config = yaml.safe_load(admin.read_text())

    def write(name: str, body: Any) -> Path:
        path = root / f"{name}.kubeconfig"
        path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
        return path

    unreachable = json.loads(json.dumps(config))
    unreachable["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    foreign = json.loads(json.dumps(config))
    cert, key = TinyCA("another-ca").client_cert("intruder", ("system:masters",)).write(root, "intruder")
    foreign["users"][0]["user"] = {"client-certificate": str(cert), "client-key": str(key)}
    (root / "job.yaml").write_text(MANIFEST)
    return {
        "manifest": root / "job.yaml",
        "admin": admin,
        "missing-file": (root / "missing.kubeconfig", ()),
        "not-yaml": (write("not-yaml", "clusters: [{name: a\nusers: ::\n"), ()),
        "missing-fields": (write("no-fields", {"apiVersion": "v1", "kind": "Config"}), ()),
        "wrong-context": (admin, ("--context", "nope")),
        "unreachable": (write("unreachable", unreachable), ()),
        "other-ca": (write("other-ca", foreign), ()),
        "no-openshift-ai": (admin, ()),
    }


def cli(*args: str | Path, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LMEVAL_DEBUG", "LMEVAL_CONTEXT")}
    return subprocess.run([sys.executable, "-m", "lmeval_setup.cli.main", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=env)


def writes_by(audit_log: Path, user: str, skip: int) -> list[str]:
    """Successful write requests by `user` in the audit log after its first `skip` lines."""
    found = []
    for line in audit_log.read_text().splitlines()[skip:]:
        event = json.loads(line)
        if (event.get("user") or {}).get("username") != user or event.get("stage") != "ResponseComplete":
            continue
        if event["verb"] in ("get", "list", "watch") or any(r in event["requestURI"] for r in NOT_WRITES):
            continue
        if int((event.get("responseStatus") or {}).get("code") or 0) < 400:
            found.append(f"{event['verb']} {event['requestURI']}")
    return found


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, output
    lines = error_lines(proc.stderr)
    if code in (3, 4, 2):  # an error: exactly one line on stderr says it
        assert len(lines) == 1, proc.stderr
    assert any(re.search(pattern, line) for line in lines), (pattern, proc.stderr)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_cluster_commands_on_bad_input(plane: Any, inputs: dict[str, Any], command: str, case: str) -> None:
    kubeconfig, extra = inputs[case]
    code, pattern = EXCEPTIONS.get((case, command), CASES[case])
    args = [a.format(manifest=inputs["manifest"]) for a in COMMANDS[command]]
    audit_lines = len(plane.audit_log_path.read_text().splitlines())
    proc = cli(*args, "--kubeconfig", kubeconfig, *extra)
    assert_one_line(proc, code, pattern)
    assert writes_by(plane.audit_log_path, USER, audit_lines) == []


def sandbox_state(root: Path, kubeconfig: Path | None) -> Path:
    """A `sandbox up` state directory whose control plane kubeconfig is `kubeconfig` (absent when None)."""
    (root / "controlplane").mkdir(parents=True)
    (root / "sandbox.json").write_text(json.dumps({"profile": "rhoai-2.25", "scenario": "fresh"}))
    if kubeconfig is not None:
        (root / "controlplane" / "kubeconfig").write_text(kubeconfig.read_text())
    return root


@pytest.mark.parametrize(("case", "code", "pattern"), [
    ("no-state", 2, r"^error: no sandbox 'default'"),
    ("missing-file", 3, r"^error: the sandbox's apiserver does not answer"),
    ("not-yaml", 3, r"^error: the sandbox's apiserver does not answer"),
    ("unreachable", 3, r"^error: the sandbox's apiserver does not answer"),
    ("other-ca", 3, r"^error: the sandbox's apiserver does not answer"),
    ("no-openshift-ai", 4, r"^error: .*no DataScienceCluster"),
])
def test_sandbox_status_on_bad_state(inputs: dict[str, Any], tmp_path: Path, case: str, code: int,
                                     pattern: str) -> None:
    state = tmp_path / "state"
    if case != "no-state":
        kubeconfig = inputs[case][0]
        sandbox_state(state, kubeconfig if kubeconfig.exists() else None)
    proc = cli("sandbox", "status", "--state-dir", state)
    assert_one_line(proc, code, pattern)


# -- lint: files that are not manifests ------------------------------------------------------------------
HEAD = "apiVersion: trustyai.opendatahub.io/v1alpha1\nkind: LMEvalJob\nmetadata: {name: x}\n"


def _bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, stderr pattern); every one exits 2."""
    return {
        "malformed.yaml": (HEAD.encode() + b"spec:\n  model: [unclosed\n",
                           r"malformed\.yaml:\d+:\d+: YAML syntax error"),
        "tabs.yaml": (HEAD.encode() + b"spec:\n\tmodel: x\n", r"tabs\.yaml:\d+:\d+: YAML syntax error"),
        "binary.yaml": (bytes(range(256)) * 8, r"binary\.yaml: binary file"),
        "latin1.yaml": (HEAD.encode() + "spec: {model: 'caf\xe9'}\n".encode("latin-1"),
                        r"latin1\.yaml: not UTF-8 text"),
        "huge.yaml": (HEAD.encode() + b"spec: {model: '" + b"x" * (6 << 20) + b"'}\n",
                      r"huge\.yaml: file is \d+ bytes"),
        "deep.yaml": (b"spec: " + b"[" * 5000 + b"]" * 5000 + b"\n", r"deep\.yaml:\d+:\d+: YAML syntax error"),
        "recursive.yaml": (HEAD.encode() + b"spec: &a {model: x, again: *a}\n", r"recursive\.yaml:\d+:\d+: recursive"),
    }


@pytest.mark.parametrize("name", list(_bad_files()))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_lint_rejects_files_that_are_not_manifests(tmp_path: Path, name: str, fmt: str) -> None:
    content, pattern = _bad_files()[name]
    path = tmp_path / name
    path.write_bytes(content)
    proc = cli("lint", path, "-o", fmt, timeout=60)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr
    if fmt == "text":
        assert_one_line(proc, 2, pattern)
    else:  # the machine format carries the same one-line error and stays valid JSON
        errors = json.loads(proc.stdout)["errors"]
        assert len(errors) == 1 and re.search(pattern, errors[0]), errors


def test_lint_wrong_types_at_depth_are_findings_with_file_line(tmp_path: Path) -> None:
    """Valid YAML with wrong types deep inside is not unreadable input: each wrong field is an LME015
    finding at its file:line:column (exit 1), and nothing crashes on the unexpected shapes."""
    path = tmp_path / "types.yaml"
    path.write_text(HEAD + (
        "spec:\n"
        "  model: 5\n"
        "  modelArgs: [1, null, [2], {name: null, value: {x: 1}}]\n"
        "  taskList: {taskNames: [1, null, {a: b}], taskRecipes: [5, {card: 7}]}\n"
        "  pod: {container: {env: [1, {name: 5, value: 6}, {name: K, valueFrom: 3}], resources: 3}, volumes: 5}\n"
        "  batchSize: [1]\n"
        "  genArgs: 4\n"
        "  allowOnline: 'yes'\n"
        "  outputs: {pvcManaged: {size: {a: 1}}}\n"
        "---\n5\n---\n[1, 2]\n---\n{kind: LMEvalJob, apiVersion: 5, metadata: [1], spec: 3}\n"
    ))
    for fmt in ("text", "json", "sarif", "junit"):
        proc = cli("lint", path, "-o", fmt, timeout=60)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert proc.returncode == 1, proc.stdout + proc.stderr
    proc = cli("lint", path, "-o", "json", timeout=60)
    findings = json.loads(proc.stdout)["findings"]
    assert findings and all(f["location"]["line"] >= 1 for f in findings if f.get("location"))
    text = cli("lint", path, timeout=60).stdout
    assert re.search(r"types\.yaml:5:\d+ error LME015", text), text  # spec.model: 5


def test_lint_stdin_garbage_is_a_usage_error() -> None:
    proc = cli("lint", "-", stdin="{not: [yaml\n", timeout=60)
    assert_one_line(proc, 2, r"^error: (-|<stdin>):\d+:\d+: YAML syntax error")


# -- an empty namespace on a working cluster: runs last (it installs OpenShift AI on the plane) -----------
def test_doctor_on_an_empty_namespace_is_a_clean_report(plane: Any, inputs: dict[str, Any]) -> None:
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.harness import running_sandbox

    with running_sandbox(plane, "rhoai-2.25", "bootstrapped") as sb:
        P.ensure_namespace(sb.kube, "empty")
        audit_lines = len(plane.audit_log_path.read_text().splitlines())
        for fmt in ("text", "json"):
            proc = cli("doctor", "--kubeconfig", inputs["admin"], "-n", "empty", "-o", fmt)
            assert "Traceback" not in proc.stdout + proc.stderr
            assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["findings"] == []
        proc = cli("doctor", "--kubeconfig", inputs["admin"], "-n", "empty")
        assert proc.stderr.strip() == "note: nothing to check (no LMEvalJobs in scope)", proc.stderr
        assert "no findings" in proc.stdout, proc.stdout
        proc = cli("results", "--kubeconfig", inputs["admin"], "-n", "empty")
        assert_one_line(proc, 2, r"^error: no completed LMEvalJobs with results in namespace empty$")
        assert writes_by(plane.audit_log_path, USER, audit_lines) == []
