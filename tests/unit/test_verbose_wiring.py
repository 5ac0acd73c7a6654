"""-v on the commands whose requests are not the CLI's own (issue 20 item 3): bootstrap and revert pass the -v count
to ansible-playbook and show its output on stderr through the one redactor; sandbox logs its requests as every
other command does. No cluster: the runner is replaced, or the sandbox's apiserver is a closed port. The
end-to-end run (ansible-playbook at -vv, and that it leaks no token) is in tests/integration/test_secrets.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.bootstrap.runner import EventCollector, RunOptions, RunResult
from lmeval_setup.cli import bootstrap as cli_bootstrap
from lmeval_setup.cli.main import main

TOKEN = "sha256~PlantedVerboseToken0123456789abcdefXYZ"
API_KEY = "sk-plantedVerboseKey0123456789abcdef"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI as its entry point runs it: (exit code, stdout, stderr); a success returns without SystemExit."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("flags", "count", "printer"), [
    ([], 0, False), (["-v"], 1, True), (["-vv"], 2, True), (["-v", "-v", "-v"], 3, True), (["-q"], 0, False),
])
@pytest.mark.parametrize("command", ["bootstrap", "revert"])
def test_the_v_count_reaches_ansible(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     command: str, flags: list[str], count: int, printer: bool) -> None:
    seen: list[tuple[RunOptions, Any]] = []

    def fake_run(opts: RunOptions, _progress: Any = None, ansible_output: Any = None) -> RunResult:
        seen.append((opts, ansible_output))
        if ansible_output:
            ansible_output("TASK [lmeval.setup.bootstrap : Detect] ***\n")
        return RunResult(command, opts.dry_run, status="successful", rc=0, clusters={})

    monkeypatch.setattr(cli_bootstrap, "run", fake_run)
    code, out, err = run([command, "--kubeconfig", "/nonexistent", *flags], capsys)
    [(opts, ansible_output)] = seen
    assert code == 0 and opts.verbosity == count and (ansible_output is not None) == printer
    # Ansible's text goes to stderr, never into the report on stdout.
    assert ("TASK [lmeval.setup.bootstrap : Detect] ***" in err) == printer and "TASK" not in out


def event(kind: str, stdout: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "stdout": stdout, "event_data": {"host": "cluster", "task": "Detect", **data}}


def test_ansible_output_is_redacted_and_only_shown_when_asked() -> None:
    shown: list[str] = []
    collector = EventCollector(ansible_output=shown.append)
    leaky = json.dumps({"changed": False, "api_key": "plainValue-7f3a9c2e", "msg": f"Authorization: Bearer {TOKEN}",
                        "env": {"OPENAI_API_KEY": API_KEY}})
    collector(event("playbook_on_task_start", "\nTASK [Detect] ****"))
    collector(event("runner_on_ok", f"ok: [cluster] => {leaky}", res={"changed": False}))
    collector(event("verbose", f"<cluster> EXEC /bin/sh -c 'K8S_AUTH_API_KEY={TOKEN} python'"))
    collector(event("runner_on_start", ""))  # nothing to show: no empty line either
    text = "\n".join(shown)
    assert len(shown) == 3 and "TASK [Detect]" in text and "ok: [cluster] =>" in text
    assert TOKEN not in text and API_KEY not in text and "plainValue-7f3a9c2e" not in text, text
    assert text.count("<redacted>") == 4, text
    assert collector.clusters["cluster"].steps[0].status == "ok"  # the steps are collected as before

    quiet = EventCollector()  # no sink (no -v): the events still make steps, and nothing is printed
    quiet(event("runner_on_ok", "ok: [cluster]", res={"changed": True}))
    assert quiet.clusters["cluster"].steps[0].status == "changed"


def dead_sandbox(root: Path) -> Path:
    """A `sandbox up` state whose apiserver is a closed port: status prints its rows, then asks /readyz."""
    (root / "controlplane").mkdir(parents=True)
    (root / "sandbox.json").write_text(json.dumps({"profile": "rhoai-2.25", "scenario": "fresh"}))
    (root / "controlplane" / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
    }))
    return root


def test_sandbox_logs_its_requests_under_v(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = dead_sandbox(tmp_path / "state")
    code, out, err = run(["sandbox", "status", "--state-dir", str(state)], capsys)
    assert code == 3 and "api:" not in err
    code, verbose_out, err = run(["sandbox", "status", "--state-dir", str(state), "-v"], capsys)
    assert code == 3 and verbose_out == out
    assert "api: GET /readyz ClusterError" in err and TOKEN not in err, err
