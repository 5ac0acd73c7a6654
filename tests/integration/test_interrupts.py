"""Ctrl-C and SIGTERM while a cluster read hangs (issue 16 leftover): exit at once, 130 / 143, one line.

The cluster here is a server that accepts TCP connections and never answers (a hung apiserver, a black-holed
load balancer): every read waits for its request timeout. Before kube/readpool.py, the doctor's and
bootstrap's concurrent reads ran on concurrent.futures' ThreadPoolExecutor, whose worker threads are joined
when its block ends and again at interpreter exit, whatever the exception: a Ctrl-C'd `doctor` sat until the
hung read timed out and then reported the timeout (exit 3), and bootstrap's no-op read held Ctrl-C for its
5 s; SIGTERM killed every command without a word (no handler). Real processes, real signals, sent once the
command's first connection was accepted (so it is inside a hung read).

Every request here would hang for 60 s (--request-timeout 60s; bootstrap's no-op read, capped at 5 s by
the CLI, gets the same 60 s by setting that cap in its process), so the old behaviour cannot pass for the
new under any load, and the bound can be generous enough for a 2-core machine at load 25: on a quiet
machine the commands exit 0.2-0.5 s after the signal. The commands run at once (one hung server each),
which is also what once caught a signal taken by a worker thread (kube/readpool.py blocks it there).
A bootstrap or revert that has reached Ansible forwards the signal to it: test_bootstrap_exits.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testsupport import HungServer

CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "examples" / "jobs" / "granite-arc-easy.yaml"
HANG_S = 60
# Far below HANG_S (what the old code waited), far above the fraction of a second the exit takes.
EXIT_WITHIN_S = 15.0
STARTUP_TIMEOUT_S = 90.0
# bootstrap's no-op read caps each request at 5 s; the same CLI with the cap at HANG_S (see the docstring).
BOOTSTRAP_CLI = [sys.executable, "-c", "import sys; import lmeval_setup.bootstrap.noop as noop; "
                 f"noop.NOOP_REQUEST_TIMEOUT = {HANG_S}; from lmeval_setup.cli.main import main; "
                 "sys.argv[0] = 'lmeval-setup'; main()"]

COMMANDS: dict[str, list[str]] = {
    "doctor": ["doctor", "-n", "team"],
    "bootstrap": ["bootstrap"],  # the no-op read, answered without Ansible when it can be
    "results": ["results", "-n", "team"],
    "lint": ["lint", "--cluster", str(JOB)],
    "provision": ["provision", "-n", "team", "--model", "m", "--base-url", "http://m:8080/v1/completions",
                  "--tokenizer", "t", "--tasks", "arc_easy"],
}
# Which signals each command gets: the single-threaded commands always took Ctrl-C; SIGTERM is new to all.
SIGNALS: dict[str, tuple[int, ...]] = {
    "doctor": (signal.SIGINT, signal.SIGTERM), "bootstrap": (signal.SIGINT, signal.SIGTERM),
    "results": (signal.SIGTERM,), "lint": (signal.SIGTERM,), "provision": (signal.SIGTERM,),
}
CASES = [(name, signum) for name, signums in SIGNALS.items() for signum in signums]


@dataclass
class Run:
    name: str
    signum: int
    server: HungServer
    home: Path
    proc: subprocess.Popen[str]
    signalled_at: float = 0.0
    ended_at: float = 0.0
    takers: list[str] = field(default_factory=list)  # threads other than the main one that could take it
    out: str = field(default="")
    err: str = field(default="")


def _kubeconfig(path: Path, port: int) -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: hung
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
- name: u
  user: {{token: "sha256~interrupt-test-token"}}
contexts:
- name: hung
  context: {{cluster: hung, user: u, namespace: team}}
current-context: hung
""")
    return path


def _default_sigint() -> None:
    """A child of a shell script or a CI runner may inherit SIGINT ignored; a terminal's Ctrl-C reaches a
    process whose SIGINT is the default, which is what this test is about."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(name: str, signum: int, root: Path) -> Run:
    server = HungServer()
    home = root / f"{name}-{signum}"
    (home / "tmp").mkdir(parents=True)
    kubeconfig = _kubeconfig(root / f"{name}-{signum}.kubeconfig", server.port)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "KUBECONFIG": str(kubeconfig),
           "PYTHONPATH": str(REPO)}
    env.pop("LMEVAL_DEBUG", None)
    cli = BOOTSTRAP_CLI if name == "bootstrap" else CLI
    proc = subprocess.Popen([*cli, *COMMANDS[name], "--request-timeout", f"{HANG_S}s"], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    return Run(name, signum, server, home, proc)


def _interrupt_when_hung(run: Run) -> None:
    """The signal once the command's first connection hangs; then its exit, timed from the signal."""
    if run.server.accepted.wait(STARTUP_TIMEOUT_S):
        run.takers = _threads_taking(run.proc.pid, run.signum)
        run.proc.send_signal(run.signum)
        run.signalled_at = time.monotonic()
    try:
        run.out, run.err = run.proc.communicate(timeout=HANG_S + 60)
    finally:
        run.ended_at = time.monotonic()
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, int], Run]]:
    root = tmp_path_factory.mktemp("interrupts")
    started = {(name, signum): _start(name, signum, root) for name, signum in CASES}
    waiters = [threading.Thread(target=_interrupt_when_hung, args=(run,)) for run in started.values()]
    try:
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()
        yield started
    finally:
        for run in started.values():
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
            run.server.close()


def _threads_taking(pid: int, signum: int) -> list[str]:
    """Threads of the process, other than its main one, that do not block `signum` (/proc's SigBlk): the
    kernel may hand the signal to any of them, and a main thread blocked in a hung read then never sees it."""
    takers = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue  # it ended meanwhile
        if int(task.name) != pid and not int(status["SigBlk"], 16) & (1 << (signum - 1)):
            takers.append(f"{task.name} {status['Name'].strip()}")
    return takers


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize(("name", "signum"), CASES,
                         ids=[f"{name}-{signal.Signals(signum).name}" for name, signum in CASES])
def test_a_signal_during_a_hung_read_ends_the_command_at_once(runs: dict[tuple[str, int], Run], name: str,
                                                              signum: int) -> None:
    run = runs[(name, signum)]
    assert run.signalled_at, f"{name} never connected to the cluster: {run.err[-500:]}"
    assert run.takers == [], f"threads of {name} that could take the signal from the main thread: {run.takers}"
    took = run.ended_at - run.signalled_at
    assert run.proc.returncode == 128 + signum, (run.proc.returncode, run.err[-500:])
    assert took < EXIT_WITHIN_S, f"{name} took {took:.1f} s to exit after {signal.Signals(signum).name}"
    words = "interrupted" if signum == signal.SIGINT else "terminated"
    assert "timed out" not in run.err and "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], run.err  # one line, and no report at all
    assert run.out == ""
    assert _files_under(run.home) == []  # nothing written: no report, no runner directory left behind
