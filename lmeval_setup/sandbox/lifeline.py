"""Processes that die with the process that started them, however it ends (kill -9 included).

Control-plane processes run in sessions of their own (so that a stop kills whole process groups), which
also means nothing takes them down with their owner: sandbox/reaper.py stops them at exit, on SIGTERM and
when the parent dies, but a SIGKILL'd owner (a pytest-xdist worker killed by its controller's timeout, the
OOM killer, `kill -9`) runs no code at all, and its etcd, kube-apiserver and controller manager ran on.

PR_SET_PDEATHSIG cannot stand in: it fires when the *thread* that forked the child ends, so a control plane
started from a ThreadPoolExecutor would be killed when the pool retires that worker. What the kernel does
for a process as a whole is close its file descriptors. So `spawn_tied(argv)` starts, in a session of its
own, a tiny Python launcher whose stdin is the read end of a pipe (the "lifeline") whose only write end
this process holds (close-on-exec, and closed in forked children). The launcher forks a watchdog and then
execs `argv`: the returned Popen is the program itself (its pid, pgid, exit status and /proc cmdline are the
program's, and this process reaps it, as with a plain Popen). The watchdog, the program's child in a
session of its own (so no signal meant for the program's group reaches it), waits for either of:

- end of file on the lifeline (every holder of the write end is gone): it SIGKILLs the program's process
  group, the program and whatever it started in the group;
- the program's exit: nothing left to guard, it exits too.

The watchdog is not in the program's group on purpose: a stop that SIGKILLs the group would kill it with
the program, and its zombie (reaped only by the program or, once that is gone, by init) would keep the
group "alive" to os.killpg(pgid, 0) after the program itself was reaped.

Only for processes that must not outlive this one: `sandbox up` detaches its control plane on purpose
and does not use this.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import Any

# Runs as `python -I -S -c LAUNCHER ARGV...` with the lifeline as stdin, in a new session (pgid = its pid).
LAUNCHER = r"""
import os, select, signal, sys
argv, program = sys.argv[1:], os.getpid()
if os.fork() == 0:  # the watchdog
    os.setsid()  # out of the program's group and session: what is sent to them does not reach it
    # Nor what is sent to it by pattern: its command line holds the owner's python and the program's argv, so a
    # `pkill -f` meant for either (or a hangup) would take the guard away and leave the program to outlive its
    # owner. SIGKILL still ends it; so does the program's exit.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # holds none of the program's output pipes open
    os.dup2(null, 2)
    os.close(null)
    try:
        pidfd = os.pidfd_open(program)
    except (AttributeError, OSError):  # before Linux 5.3: look at the parent twice a second
        pidfd = None
    poller = select.poll()
    poller.register(0, select.POLLIN | select.POLLHUP | select.POLLERR)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    while os.getppid() == program:
        for fd, _ in poller.poll(None if pidfd is not None else 500):
            if fd == 0 and not os.read(0, 512):  # the owner is gone: so is the program's process group
                try:
                    os.killpg(program, signal.SIGKILL)
                except OSError:
                    pass
                os._exit(0)
            if fd == pidfd:
                os._exit(0)
    os._exit(0)
try:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the program does not hold the lifeline
    os.close(null)
    os.execvp(argv[0], argv)
except BaseException as exc:
    os.write(2, ("lifeline: cannot run %s: %s\n" % (argv[0], exc)).encode())
os._exit(127)
"""

_lock = threading.Lock()
_pipe: tuple[int, int] | None = None  # (read end, write end) of this process's lifeline


def _lifeline() -> int:
    """The read end of this process's lifeline, made on first use (os.pipe's ends are close-on-exec)."""
    global _pipe
    with _lock:
        if _pipe is None:
            _pipe = os.pipe()
        return _pipe[0]


def _forget_in_child() -> None:
    """A forked child must not hold its parent's write end: the parent's tied processes would outlive it."""
    global _pipe
    if _pipe is not None:
        for fd in _pipe:
            with contextlib.suppress(OSError):
                os.close(fd)
        _pipe = None


os.register_at_fork(after_in_child=_forget_in_child)


def launcher_argv(argv: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv]


def spawn_tied(argv: list[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen(argv) in a session of its own that is SIGKILLed when this process ends (see the module docstring).

    The program's stdin is /dev/null; stdout, stderr, env and cwd are passed on as given. A missing executable
    is exit code 127 with a line on the program's stderr, not an OSError.
    """
    for taken in ("stdin", "start_new_session", "preexec_fn", "process_group"):
        if taken in popen_kwargs:
            raise TypeError(f"spawn_tied sets {taken} itself")
    return subprocess.Popen(launcher_argv(argv), stdin=_lifeline(), start_new_session=True, **popen_kwargs)
