"""kube.readpool: concurrent reads that wait for their workers on a normal or failed exit, and abandon them
(daemon threads) on an interrupt, so a hung read never holds up Ctrl-C or SIGTERM (issue 16 leftover).
The real-signal, real-process check against a hung server is tests/integration/test_interrupts.py."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from lmeval_setup.kube.readpool import ReadPool, is_interrupt, wait_for


def test_interrupts_are_the_exceptions_that_end_the_process() -> None:
    assert is_interrupt(KeyboardInterrupt()) and is_interrupt(SystemExit(1))
    assert not is_interrupt(TimeoutError()) and not is_interrupt(ValueError()) and not is_interrupt(None)


def test_workers_are_daemons_and_an_interrupt_does_not_wait_for_them() -> None:
    release = threading.Event()
    with pytest.raises(KeyboardInterrupt), ReadPool(2, "test-read") as pool:
        future = pool.submit(release.wait, 30)
        queued = [pool.submit(release.wait, 30) for _ in range(3)]  # two run, the rest wait for a worker
        workers = [t for t in threading.enumerate() if t.name.startswith("test-read")]
        started = time.monotonic()
        raise KeyboardInterrupt
    assert time.monotonic() - started < 5  # not the 30 s the hung reads would take
    assert workers and all(t.daemon for t in workers)  # not joined at interpreter exit either
    assert queued[-1].cancelled()
    release.set()
    assert wait_for(future) is True


def test_a_normal_or_failed_exit_waits_for_running_reads() -> None:
    done: list[int] = []

    def slow(n: int) -> int:
        time.sleep(0.2)
        done.append(n)
        return n

    with pytest.raises(ValueError), ReadPool(2) as pool:
        pool.submit(slow, 1)
        raise ValueError("an ordinary error")
    assert done == [1]  # a thread never outlives the client it reads with
    with ReadPool(3) as pool:
        assert pool.map(slow, [3, 2, 1]) == [3, 2, 1]


def test_a_read_that_raised_timeout_error_is_raised_not_waited_for_again() -> None:
    """socket.timeout is TimeoutError, as is concurrent.futures' wait timeout: the answer's error must win."""
    with ReadPool(1) as pool:
        future = pool.submit(_raise_timeout)
        with pytest.raises(TimeoutError, match="the read timed out"):
            wait_for(future)


def _raise_timeout() -> None:
    raise TimeoutError("the read timed out")


def test_workers_never_take_the_signals_that_end_the_process() -> None:
    """A process-directed signal goes to any thread that does not block it; taken by a worker, it left the
    main thread blocked in its own hung read until the request timeout (1 SIGTERM'd doctor in 8 at load
    30). Workers are born with SIGINT and SIGTERM blocked, and the creator's mask is left as it was."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with ReadPool(2) as pool:
        masks = pool.map(lambda _: signal.pthread_sigmask(signal.SIG_BLOCK, []), range(4))
    assert all({signal.SIGINT, signal.SIGTERM} <= mask for mask in masks), masks
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert signal.SIGINT not in before and signal.SIGTERM not in before
