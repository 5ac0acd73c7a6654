"""Stop what this process started (control planes, pod processes) however it is told to stop.

`atexit` alone is not enough: SIGTERM's default action ends a process without running atexit hooks, so a
test run stopped by SIGTERM (CI's timeout, a developer's `kill`) left its etcd, kube-apiservers and job
processes running in their own sessions. `register(stop)` adds a teardown that runs, newest first, once:

- at a normal interpreter exit (atexit);
- on SIGTERM, SIGHUP or SIGQUIT while the handler is still the default one (a program with its own, such as
  the sandbox runner or bootstrap's signal forwarding, keeps it and stops things its own way): the
  teardowns run, then the signal is delivered again with its default action, so the process still
  ends as "killed by SIGTERM" (exit status 143 for a shell);
- with `watch_parent=True`, when the parent process goes away (pytest-xdist workers whose controller was
  killed are re-parented and would otherwise carry on): a watcher thread notices and ends the process as
  SIGTERM would. Not for a process meant to outlive its parent (the detached sandbox runner).

Handlers can only be installed from the main thread; elsewhere only atexit and the watcher apply.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("lmeval_setup.sandbox.reaper")

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
PARENT_POLL_SECONDS = 1.0

_lock = threading.RLock()
_teardowns: dict[int, Callable[[], None]] = {}
_tokens = itertools.count(1)
_handled: set[int] = set()  # signals whose disposition was looked at (and taken over when default)
_at_exit = False
_watching = False


def register(teardown: Callable[[], None], *, watch_parent: bool = False) -> int:
    """Run `teardown` when this process ends (see the module docstring); the token unregisters it."""
    with _lock:
        token = next(_tokens)
        _teardowns[token] = teardown
        _install(watch_parent)
    return token


def unregister(token: int) -> None:
    """The thing was stopped the ordinary way: nothing to do for it at exit."""
    with _lock:
        _teardowns.pop(token, None)


def run_all() -> None:
    """Every registered teardown, newest first, each once; one that fails does not stop the others."""
    while True:
        with _lock:
            if not _teardowns:
                return
            token = max(_teardowns)
            teardown = _teardowns.pop(token)
        try:
            teardown()
        except Exception:  # the others must still run: this is the last chance to stop them
            log.exception("teardown %s failed", token)


def _install(watch_parent: bool) -> None:
    global _at_exit, _watching
    if not _at_exit:
        _at_exit = True
        atexit.register(run_all)
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            if signum not in _handled:
                _handled.add(signum)
                if signal.getsignal(signum) is signal.SIG_DFL:
                    signal.signal(signum, _on_signal)
    if watch_parent and not _watching:
        _watching = True
        parent = os.getppid()
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="reaper-parent-watch").start()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    run_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _watch_parent(parent: int) -> None:
    """A parent that dies re-parents us (to init or a subreaper): end as its SIGTERM would have."""
    stop = threading.Event()
    while not stop.wait(PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            log.warning("parent process %d is gone: stopping what this process started", parent)
            run_all()
            with contextlib.suppress(OSError):
                os.kill(os.getpid(), signal.SIGTERM)
            return
