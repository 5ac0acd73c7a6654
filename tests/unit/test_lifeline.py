"""sandbox/lifeline.py: a tied process is an ordinary child to its owner, and dies with the owner however the
owner dies (SIGKILL included)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import processsupport
from testsupport import wait_for

from lmeval_setup.sandbox.controlplane import group_alive
from lmeval_setup.sandbox.lifeline import spawn_tied


def test_the_popen_is_the_program_itself() -> None:
    assert spawn_tied(["sh", "-c", "exit 7"]).wait(10) == 7
    program = "import os, sys; print(os.getpid(), os.getpgid(0), os.getsid(0), repr(sys.stdin.read()))"
    tied = spawn_tied([sys.executable, "-c", program], stdout=subprocess.PIPE)
    out, _ = tied.communicate(timeout=10)  # the watchdog holds no output pipe open: EOF when the program ends
    pid, pgid, sid, stdin = out.decode().split()
    assert int(pid) == int(pgid) == int(sid) == tied.pid, "a session of its own, led by the program"
    assert stdin == "''", "the program's stdin is /dev/null, not the lifeline"


def test_a_sigkill_to_the_group_leaves_no_process_of_it() -> None:
    """As ControlPlane.stop(grace=0) ends a process: the group is gone once the owner has reaped the program
    (a watchdog inside the group would be a zombie of the program's, for init to reap some time later)."""
    tied = spawn_tied(["sleep", "60"])
    tree = processsupport.wait_for_descendants(tied.pid, 2)  # sleep and its watchdog
    assert len(tree) == 2, tree
    os.killpg(tied.pid, signal.SIGKILL)
    assert tied.wait(10) == -signal.SIGKILL
    assert not group_alive(tied.pid)
    assert processsupport.survivors(tree, timeout=10) == set(), "the watchdog outlived its program"


def test_a_missing_executable_is_exit_127_with_a_line_on_stderr() -> None:
    tied = spawn_tied(["/nonexistent/binary"], stderr=subprocess.PIPE)
    _, err = tied.communicate(timeout=10)
    assert tied.returncode == 127
    assert b"lifeline: cannot run /nonexistent/binary" in err


def ignores(pid: int, sig: signal.Signals) -> bool:
    """Whether the process has `sig` set to SIG_IGN (/proc/PID/status SigIgn: a mask, bit N-1 for signal N)."""
    with open(f"/proc/{pid}/status") as status:
        mask = next(int(line.split()[1], 16) for line in status if line.startswith("SigIgn:"))
    return bool(mask & (1 << (sig - 1)))


OWNER = textwrap.dedent("""
    import os, sys, time
    from lmeval_setup.sandbox.lifeline import spawn_tied
    tied = spawn_tied(["sh", "-c", "sleep 600 & sleep 600 & wait"])
    forked = os.fork()
    if forked == 0:  # a forked child must not keep the owner's lifeline open
        time.sleep(600)
        os._exit(0)
    print(tied.pid, forked, flush=True)
    time.sleep(600)
""")


@contextlib.contextmanager
def tied_by_an_owner() -> Iterator[tuple[subprocess.Popen[str], int, set[processsupport.Proc]]]:
    """OWNER running, the tied program's pid, and its processes (sh, the watchdog, two sleeps) once all four are
    up. Whatever the test leaves of them, of the owner's forked child and of the owner is SIGKILLed after the
    block."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    started: set[processsupport.Proc] = set()
    try:
        assert owner.stdout is not None
        program, forked = (int(pid) for pid in owner.stdout.readline().split())
        started |= {p for p in [processsupport.identity(forked)] if p}
        tied = processsupport.wait_for_descendants(program, 4)
        started |= tied
        assert len(tied) == 4, tied
        yield owner, program, tied
    finally:
        for proc in [*started, *processsupport.descendants(owner.pid)]:
            if processsupport.alive(proc):
                with contextlib.suppress(OSError):
                    os.kill(proc[0], signal.SIGKILL)
        with contextlib.suppress(OSError):
            owner.kill()
        owner.wait(5)


def test_a_sigkilled_owner_takes_its_tied_processes_with_it() -> None:
    with tied_by_an_owner() as (owner, _, tied):
        owner.kill()
        owner.wait(10)
        assert processsupport.survivors(tied, timeout=10) == set()


def test_the_watchdog_outlasts_signals_sent_to_its_command_line() -> None:
    """`pkill -f` on the owner's python (or the program's name) also matches the watchdog, a fork of the launcher:
    an xdist worker SIGTERMed so, then SIGKILLed, left a kube-apiserver running (its etcd gone) after the watchdog
    had died of the SIGTERM."""
    with tied_by_an_owner() as (owner, program, tied):
        # Its own session first (setsid), then its signal dispositions: both right after the fork, which under
        # load may run after the program has already started its children.
        watchdog = wait_for("the watchdog in a session of its own",
                            lambda: next((p for p in tied if os.getsid(p[0]) != program), None), timeout=10)
        wait_for("the watchdog to ignore SIGTERM", lambda: ignores(watchdog[0], signal.SIGTERM), timeout=10)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            os.kill(watchdog[0], sig)
        assert processsupport.survivors({watchdog}, timeout=1) == {watchdog}, "the watchdog died of a signal"
        owner.kill()
        owner.wait(10)
        assert processsupport.survivors(tied, timeout=10) == set()
