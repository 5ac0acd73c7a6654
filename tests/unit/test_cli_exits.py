"""Exits that mean what happened (issue 16 items 7-9), the parts that need no cluster.

--limit reaches ansible-playbook as one argument (never through runner's shlex-split cmdline) and a
malformed pattern is a usage error; SIGINT/SIGTERM are forwarded to the process group of the child a
run started (never to our own group); a run cut short marks every unfinished cluster failed with one
line; off a terminal progress lines carry a UTC timestamp, and a long task says it is still running;
--request-timeout is a kubectl duration; several KUBECONFIG files merge the way kubectl merges them.
The same behaviours end to end, against a sandbox, are in tests/integration/test_bootstrap_exits.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from lmeval_setup.bootstrap import runner as B
from lmeval_setup.errors import UsageError
from lmeval_setup.kube.client import Kube, kubeconfig_context, parse_duration

CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[")


# -- --limit -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["cluster", "prod-*", "web,db", "all:!staging", "prod:&eu", "~clu.*r$",
                                     "fleet[0:2]", "odh_2.35"])
def test_host_patterns_are_accepted(pattern: str) -> None:
    B.validate_limit(pattern)


@pytest.mark.parametrize("pattern", ["x' --syntax-check '", "a b", "--list-hosts", "@hosts.txt", "", "a,,b",
                                     "~([", "a;rm -rf /", "a\nb"])
def test_malformed_patterns_are_usage_errors(pattern: str) -> None:
    with pytest.raises(UsageError):
        B.validate_limit(pattern)


def test_limit_never_goes_through_the_shlex_split_cmdline() -> None:
    opts = B.RunOptions("bootstrap", limit="prod-*", dry_run=True, diff=True)
    assert B.cmdline(opts) == "--check --diff"


def test_injected_limit_is_exit_2_with_one_line_before_ansible_runs(tmp_path: Path) -> None:
    """Before: the pattern was pasted into a string that runner shlex-splits, so ansible-playbook got
    --syntax-check as an option of its own."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(kubeconfig), "--limit", "x' --syntax-check '"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --limit"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_limit_that_matches_no_host_is_a_usage_error(tmp_path: Path) -> None:
    """Before: exit 70 (internal error) with nothing on stderr and 'no cluster ran' on stdout."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    proc = subprocess.run([*CLI, "bootstrap", "--kubeconfig", str(kubeconfig), "--limit", "nomatch", "--dry-run"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not STAMP.match(line)]
    assert lines == ["error: --limit 'nomatch' matches no host of the inventory"], proc.stderr


def test_a_playbook_that_fails_before_any_cluster_says_why_on_stderr() -> None:
    from lmeval_setup.cli.bootstrap import error_lines

    outcome = B.RunResult("bootstrap", False, status="failed", rc=1, clusters={},
                          ansible_errors=["the playbook is broken"])
    assert outcome.exit_code == 70
    assert error_lines(outcome) == ["error: ansible-playbook failed before any cluster ran: the playbook is broken"]


# -- signals and --timeout -------------------------------------------------------------------------------------
# A child in a session of its own (as pexpect starts ansible-playbook) that starts a grandchild in another
# session (as ansible's workers call setsid()); both ignore SIGTERM and SIGINT when stubborn. In "late-session"
# the grandchild runs half a second in the child's group before its setsid(), the window every forked worker has
# between fork and setsid.
FAMILY = """
import signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
late = sys.argv[1] == "late-session"
subprocess.Popen([sys.executable, "-c", "import os, signal, sys, time; "
                  + ("signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.signal(signal.SIGINT, signal.SIG_IGN); "
                     if sys.argv[1] == "stubborn" else "")
                  + ("time.sleep(0.5); os.setsid(); " if late else "")
                  + "time.sleep(60)", *sys.argv[2:]], start_new_session=not late)
time.sleep(60)
"""


def _family(mode: str, marker: str = "") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", FAMILY, mode, *([marker] if marker else [])],
                            start_new_session=True)


def _groups_alive(guard: B.RunGuard) -> set[int]:
    return {group for _, group in B._processes().values() if group in guard._groups}


class SteppedClock:
    """The runner's `time`, whose monotonic clock the test moves forward: the guard's deadlines pass when
    the test says so, not when a loaded machine gets round to it. At load 22 starting the two processes
    took 0.45-0.57 s and each /proc scan 0.05-0.27 s, so a real 0.3 s timeout had fired before the test
    looked, and a 0.5 s grace was over before its next look."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def skip(self, seconds: float) -> None:
        self.skipped += seconds


def _stepped_clock(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    clock = SteppedClock()
    monkeypatch.setattr(B, "time", clock)
    return clock


def _wait_for_grandchild(child: subprocess.Popen[bytes]) -> None:
    """Until the child's child leads a process group of its own (its setsid() done). Merely existing was not
    enough: between fork and setsid it is still in the child's group, and a guard that looked then (seen once
    at load 14) found one group, not two."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(parent == child.pid and group == pid for pid, (parent, group) in B._processes().items()):
            return
        time.sleep(0.05)
    raise AssertionError("the grandchild never started its own session")


@pytest.mark.parametrize("mode", ["obedient", "late-session"])
def test_a_signal_reaches_every_group_the_run_started(mode: str) -> None:
    """Before: nothing was forwarded; ansible-runner's own kill reaches ansible-playbook's group only, so a
    worker (own session) and its module ran on. late-session: the signal comes once the worker has its session."""
    guard = B.RunGuard()
    child = _family(mode)
    try:
        _wait_for_grandchild(child)
        guard.handle(signal.SIGTERM, None)
        assert len(guard._groups) == 2, "ansible-playbook's group and the worker's"
        assert child.wait(timeout=10) == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while _groups_alive(guard) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _groups_alive(guard)
        assert guard.reason == "sigterm" and guard.cancel()
    finally:
        guard.kill()
        child.wait(timeout=10)


def test_groups_get_a_grace_period_then_sigkill(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _stepped_clock(monkeypatch)
    monkeypatch.setattr(B, "STOP_GRACE", 60.0)
    guard = B.RunGuard()
    child = _family("stubborn")
    try:
        _wait_for_grandchild(child)
        guard.handle(signal.SIGINT, None)
        assert not guard.cancel(), "within the grace period: wait"
        clock.skip(60.0)
        assert guard.cancel(), "grace over: killed"
        assert not _groups_alive(guard)
        assert guard.reason == "sigint"
    finally:
        guard.kill()
        child.wait(timeout=10)


def test_a_second_signal_does_not_wait() -> None:
    guard = B.RunGuard()
    child = _family("stubborn")
    try:
        _wait_for_grandchild(child)
        guard.handle(signal.SIGTERM, None)
        assert not guard.cancel()
        guard.handle(signal.SIGTERM, None)
        assert guard.cancel() and not _groups_alive(guard)
    finally:
        guard.kill()
        child.wait(timeout=10)


def test_timeout_stops_the_groups_like_a_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ansible-runner's timeout SIGKILLed ansible-playbook's group and left the worker running."""
    clock = _stepped_clock(monkeypatch)
    monkeypatch.setattr(B, "STOP_GRACE", 60.0)
    guard = B.RunGuard(timeout=60.0)  # before the family starts, as a run's guard is before ansible-playbook
    child = _family("stubborn")
    try:
        _wait_for_grandchild(child)
        assert not guard.cancel()
        clock.skip(60.0)
        assert not guard.cancel() and guard.reason == "timeout"
        clock.skip(60.0)
        assert guard.cancel() and not _groups_alive(guard)
    finally:
        guard.kill()
        child.wait(timeout=10)


def test_with_a_marker_only_that_runs_processes_are_stopped() -> None:
    """Runs in threads of one process (five concurrent bootstraps) must not stop each other's playbooks."""
    guard = B.RunGuard(marker="/tmp/lmeval-setup-run-mine")
    mine, theirs = _family("obedient", "/tmp/lmeval-setup-run-mine"), _family("obedient", "/tmp/lmeval-setup-run-x")
    try:
        _wait_for_grandchild(mine)
        _wait_for_grandchild(theirs)
        guard.handle(signal.SIGTERM, None)
        assert mine.wait(timeout=10) == -signal.SIGTERM
        assert len(guard._groups) == 2
        time.sleep(0.3)
        assert theirs.poll() is None
    finally:
        guard.kill()
        for parent, group in list(B._processes().values()):
            if parent == theirs.pid:  # the other run's worker: its own session
                os.killpg(group, signal.SIGKILL)
        theirs.kill()
        for child in (mine, theirs):
            child.wait(timeout=10)


def test_processes_that_existed_before_the_run_are_left_alone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        guard = B.RunGuard()  # the child is already running: not the run's
        guard.handle(signal.SIGINT, None)
        time.sleep(0.3)
        assert child.poll() is None
        assert guard.cancel(), "nothing of the run's to wait for"
    finally:
        child.kill()
        child.wait()


def _cut_result(cut: str) -> B.RunResult:
    collector = B.EventCollector()
    collector({"event": "runner_on_ok", "event_data": {"host": "c", "task": "r : read", "res": {}}})
    collector({"event": "runner_on_start", "event_data": {"host": "c", "task": "r : wait for TrustyAI"}})
    outcome = B.RunResult("bootstrap", False, status="canceled", rc=254, clusters=collector.clusters)
    opts = B.RunOptions("bootstrap", timeout=7)
    B._mark_cut(outcome, collector, cut, opts, {"all": {"hosts": {"c": {}, "never-started": {}}}})
    return outcome


@pytest.mark.parametrize(("cut", "code", "words"), [
    ("sigint", 130, "interrupted (SIGINT)"), ("sigterm", 143, "terminated (SIGTERM)"),
    ("timeout", 5, "timed out after 7 s (--timeout)")])
def test_a_cut_run_marks_every_cluster_failed_and_says_so_once(cut: str, code: int, words: str) -> None:
    from lmeval_setup.cli.bootstrap import as_json, error_lines

    outcome = _cut_result(cut)
    assert outcome.exit_code == code
    doc = as_json(outcome)
    for name in ("c", "never-started"):
        assert doc["clusters"][name]["ok"] is False
        assert doc["clusters"][name]["exit_code"] == code
    assert doc["clusters"]["c"]["steps"][-1]["task"] == "wait for TrustyAI"
    lines = error_lines(outcome)
    assert len(lines) == 1 and words in lines[0] and "safe to re-run" in lines[0], lines


# -- progress --------------------------------------------------------------------------------------------
def test_progress_off_a_terminal_is_timestamped_in_every_format() -> None:
    from lmeval_setup.cli.bootstrap import _progress_printer

    runner = CliRunner()
    for output in ("text", "json"):
        show = _progress_printer(output, tty=False)
        assert show is not None
        with runner.isolation() as (_, _, err):
            show("[c] changed   enable")
            assert STAMP.match(err.getvalue().decode()), err.getvalue()
    assert _progress_printer("json", tty=True) is None  # a terminal reading JSON gets no chatter


def test_quiet_means_no_progress() -> None:
    from lmeval_setup.cli import verbosity
    from lmeval_setup.cli.bootstrap import _progress_printer

    before = verbosity.level()
    verbosity.set_level(verbosity.QUIET)
    try:
        assert _progress_printer("text", tty=False) is None
    finally:
        verbosity.set_level(before)


def test_a_long_task_says_it_is_still_running() -> None:
    lines: list[str] = []
    collector = B.EventCollector(lines.append)
    collector({"event": "runner_on_start", "event_data": {"host": "c", "task": "r : wait for TrustyAI"}})
    start = collector.running["c"][1]
    collector.heartbeat(start + 1)
    assert lines == []
    collector.heartbeat(start + B.HEARTBEAT_SECONDS + 1)
    assert lines == [f"[c] running   wait for TrustyAI ({int(B.HEARTBEAT_SECONDS) + 1} s)"]
    collector.heartbeat(start + B.HEARTBEAT_SECONDS + 2)
    assert len(lines) == 1, "one line per HEARTBEAT_SECONDS, not per poll"


# -- --request-timeout ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200),
                                               ("0", 0), ("5", 5)])
def test_request_timeout_is_a_kubectl_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1s", "1s2"])
def test_bad_request_timeout_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize("command", ["doctor", "lint", "results", "provision", "bootstrap", "revert"])
def test_every_cluster_command_takes_request_timeout(command: str) -> None:
    proc = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, timeout=60)
    assert "--request-timeout" in proc.stdout, proc.stdout
    bad = subprocess.run([*CLI, command, "--request-timeout", "soon", "x"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "invalid duration" in bad.stderr, bad.stderr


def test_request_timeout_reaches_the_client_and_the_modules_environment(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = _write(tmp_path / "k", {"current-context": "c", "clusters": [_cluster("c", "https://127.0.0.1:1")],
                                         "users": [_user("u")], "contexts": [_context("c", "c", "u")]})
    assert Kube.connect(str(kubeconfig)).request_timeout == 30
    assert Kube.connect(str(kubeconfig), request_timeout=0).request_timeout is None
    monkeypatch.setenv(B.REQUEST_TIMEOUT_ENV, "2.5")  # what bootstrap's runner puts in the modules' env
    assert Kube.connect(str(kubeconfig)).request_timeout == 2.5
    env = B.environment(Path(B.REPO_ROOT), tmp_path, request_timeout=2.5)
    assert env[B.REQUEST_TIMEOUT_ENV] == "2.5"


# -- several kubeconfig files ------------------------------------------------------------------------------
def _cluster(name: str, server: str) -> dict[str, object]:
    return {"name": name, "cluster": {"server": server, "insecure-skip-tls-verify": True}}


def _user(name: str) -> dict[str, object]:
    return {"name": name, "user": {"token": "t"}}


def _context(name: str, cluster: str, user: str, namespace: str | None = None) -> dict[str, object]:
    return {"name": name, "context": {"cluster": cluster, "user": user, **({"namespace": namespace} if namespace
                                                                              else {})}}


def _write(path: Path, doc: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **doc}))
    return path


def test_kubeconfig_list_merges_like_kubectl(tmp_path: Path) -> None:
    """a names the current context, b defines it (and a current-context of its own, which kubectl ignores:
    the first file that sets one wins; the client library's merger would take b's)."""
    a = _write(tmp_path / "a", {"current-context": "real", "clusters": [_cluster("realc", "https://127.0.0.1:7")],
                                "users": [_user("admin")]})
    b = _write(tmp_path / "b", {"current-context": "decoy",
                                "clusters": [_cluster("decoyc", "https://127.0.0.1:1"),
                                             _cluster("realc", "https://127.0.0.1:9")],
                                "contexts": [_context("real", "realc", "admin", "ns-b"),
                                             _context("decoy", "decoyc", "admin")]})
    both = f"{a}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}{b}"
    assert Kube.connect(both).host == "https://127.0.0.1:7"  # first definition of realc wins
    assert kubeconfig_context(both) == {"cluster": "realc", "user": "admin", "namespace": "ns-b"}
    assert Kube.connect(both, "decoy").host == "https://127.0.0.1:1"
    inventory = B.single_cluster_inventory(both, None)
    host = inventory["all"]["hosts"]["cluster"]
    assert host["lmeval_context"] == "real", "kubernetes.core would otherwise follow b's current-context"
    assert host["lmeval_kubeconfig"].split(os.pathsep)[0] == str(a)
