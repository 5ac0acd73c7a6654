"""Helpers shared by the test modules (importable as `testsupport`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest


def require_controlplane_binaries() -> Path:
    """The Go-built binaries' directory; skip with how to build them, or fail under make test."""
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, default_binary_dir, missing_binaries

    missing = missing_binaries()
    if missing:
        message = f"control-plane binaries missing ({', '.join(missing)}): {BUILD_HINT}"
        if os.environ.get("LMEVAL_REQUIRE_CONTROLPLANE"):
            pytest.fail(message)
        pytest.skip(message)
    return default_binary_dir()


# bootstrap's progress lines when stderr is not a terminal (CI logs): they are not errors.
PROGRESS_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def load_tool(name: str) -> Any:
    """tools/<name>.py as a module (the build scripts there are not a package)."""
    path = Path(__file__).resolve().parent.parent / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_lines(stderr: str) -> list[str]:
    """The non-empty stderr lines that are not timestamped progress: where "one line" errors are counted."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy (API errors count as not yet); return that."""
    from lmeval_setup.kube.client import ApiError

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@contextmanager
def serving(httpd: HTTPServer) -> Iterator[HTTPServer]:
    """A test server answering on a daemon thread for the block; shut down and closed after it."""
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def running_in_thread(run: Callable[[threading.Event], object], name: str = "", join: float = 10.0) -> Iterator[None]:
    """`run(stop)` on a daemon thread for the block (a simulator's run method: the sandbox kubelet, an operator;
    a fault's watcher); `stop` is set and the thread joined (`join` seconds at most) after it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), daemon=True, name=name or getattr(run, "__qualname__", ""))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join)


class HungServer:
    """Accepts connections on loopback and never answers; `accepted` is set at the first one. A subclass
    may answer after all (`_accepted`)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        """Nothing: the connection hangs."""

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()
