"""Concurrent reads that never hold up Ctrl-C or SIGTERM: `ReadPool` and `wait_for`.

Reads that do not depend on each other run at the same time on the client's keep-alive pool (kube.pool):
detect()'s prefetched rounds (kube.source) and the doctor's job layer (doctor.collect). A read that hangs
(a server that accepts the connection and never answers) must not hold up an interrupt for the length of
the request timeout, and concurrent.futures' ThreadPoolExecutor cannot give that: its workers are joined
when its `with` block ends and again at interpreter exit, whatever the exception, so an interrupted
`doctor` sat until the hung read timed out (30 s) and then reported that timeout instead of "interrupted".
A ReadPool's workers are daemon threads, waited for when the block ends normally or on an ordinary error
(a thread must not outlive the client it reads with), and abandoned when it ends on an interrupt
(KeyboardInterrupt, SystemExit, the CLI's SIGTERM exception: any BaseException that is not an Exception):
the process is on its way out, and a worker blocked in recv() holds nothing that exit must release.
Every wait on a worker goes through `wait_for` (or the pool's own map and shutdown), in short slices.

The workers block SIGINT and SIGTERM (they are born with them blocked). A process-directed signal may be
delivered to any thread that does not block it, and Python runs the handler in the main thread only when
that thread next gets back to the interpreter: with the signal taken by a worker, a main thread blocked
in its own hung read (a TLS handshake, a recv, up to the request timeout) never saw it. Seen here: one
SIGTERM'd doctor in eight, under load, waited out its 40 s request timeout. With the workers blocking
them, the kernel delivers both to the main thread, whose blocking call returns EINTR and runs the handler.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

# How long one wait for a worker's answer or exit lasts before the waiting thread looks at signals again.
WAIT_SLICE_S = 0.1
# What a worker never takes: the signals that end the process belong to the main thread.
MAIN_THREAD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

T = TypeVar("T")


def is_interrupt(exc: BaseException | None) -> bool:
    """An exception that ends the process rather than reports a failure (Ctrl-C, SIGTERM, sys.exit)."""
    return exc is not None and not isinstance(exc, Exception)


class CancelledError(Exception):
    """The result of a read that was cancelled before it ran."""


class Future(Generic[T]):
    """The answer of one submitted read: what ReadPool needs of concurrent.futures.Future (done, result,
    cancel while queued, and the worker's side), without importing concurrent.futures, whose logging and
    traceback modules cost a cold `doctor` ~3 ms for nothing it uses."""

    _PENDING, _RUNNING, _CANCELLED, _FINISHED = range(4)

    def __init__(self) -> None:
        self._state = self._PENDING
        self._result: T | None = None
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def done(self) -> bool:
        return self._state in (self._CANCELLED, self._FINISHED)

    def cancelled(self) -> bool:
        return self._state == self._CANCELLED

    def cancel(self) -> bool:
        """Cancels a read that has not started; False once it runs or has run."""
        with self._changed:
            if self._state in (self._RUNNING, self._FINISHED):
                return False
            self._state = self._CANCELLED
            self._changed.notify_all()
        return True

    def wait(self, timeout: float | None) -> bool:
        """Whether the answer is in, after waiting at most `timeout` seconds for it."""
        with self._changed:
            if not self.done():
                self._changed.wait(timeout)
            return self.done()

    def result(self) -> T:
        """The answer, or the read's error raised; waits without a limit (wait_for waits in slices)."""
        while not self.wait(None):
            pass
        if self._state == self._CANCELLED:
            raise CancelledError
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    # -- the worker's side -------------------------------------------------------------------------------
    def set_running_or_notify_cancel(self) -> bool:
        """False when the read was cancelled while queued (the worker skips it), else marks it running."""
        with self._changed:
            if self._state == self._CANCELLED:
                return False
            self._state = self._RUNNING
            return True

    def set_result(self, result: T) -> None:
        self._finish(result, None)

    def set_exception(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, result: T | None, error: BaseException | None) -> None:
        with self._changed:
            self._result, self._error, self._state = result, error, self._FINISHED
            self._changed.notify_all()


def wait_for(future: Future[T]) -> T:
    """future.result(), waited for in WAIT_SLICE_S slices: the main thread gets back to the interpreter
    between them, so a signal's handler runs within a slice even when the kernel delivered the signal to a
    worker thread (an untimed lock wait is only woken by a signal sent to the waiting thread itself)."""
    while not future.wait(WAIT_SLICE_S):
        pass
    return future.result()


_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


def start_without_main_thread_signals(thread: threading.Thread) -> None:
    """Start `thread` with SIGINT and SIGTERM blocked (a thread inherits its creator's mask, so they are
    blocked around start(): there is no moment when the new thread could take one). A signal that
    arrives meanwhile stays pending and goes to the main thread once the creator unblocks it. For every
    helper thread that runs while the main thread may block in a read (ReadPool's workers use it)."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: signals go to the main thread anyway
        thread.start()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ReadPool:
    """A few daemon worker threads for concurrent reads (see the module docstring): submit() and map() as
    concurrent.futures' executors have them; leaving the `with` block waits for the workers unless it is
    left by an interrupt, which abandons them (queued work cancelled, running work left to the daemons)."""

    def __init__(self, workers: int, name: str = "kube-read") -> None:
        if workers < 1:
            raise ValueError("a ReadPool needs at least one worker")
        self._workers, self._name = workers, name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: submit after shutdown")
            self._work.put((future, fn, args))
            if len(self._threads) < self._workers:  # started as work arrives, as ThreadPoolExecutor does
                thread = threading.Thread(target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True)
                start_without_main_thread_signals(thread)
                self._threads.append(thread)
        return future

    def map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        """fn over items on the workers, the answers in order; the first error is raised (the rest cancelled)."""
        futures = [self.submit(fn, item) for item in items]
        try:
            return [wait_for(future) for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def shutdown(self, wait: bool = True) -> None:
        """No more work: queued work is cancelled; with `wait`, running work is waited for (in slices)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        self._cancel_queued()
        for _ in threads:
            self._work.put(None)  # one stop mark per worker, after the (now empty) queue
        if wait:
            for thread in threads:
                while thread.is_alive():
                    thread.join(WAIT_SLICE_S)

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # the waiter's to raise, as concurrent.futures does
                future.set_exception(exc)
            else:
                future.set_result(result)

    def __enter__(self) -> ReadPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown(wait=not is_interrupt(exc))
