"""A keep-alive HTTP(S) connection pool on the standard library (http.client and ssl), for PlainTransport.

Importing urllib3 costs a cold CLI ~25 ms more than http.client alone (its own modules, regexes and
dataclasses), a tenth of a `doctor -n NS`; the plain path needs only this: one host, a few concurrent
requests on reused connections, reads retried when the apiserver answers 429/503 (Retry-After honoured),
and a streamed body for watches. The same call shape as urllib3's `PoolManager.request` (method, url,
headers, body, timeout, preload_content, retries), so wrappers written for urllib3 pools (impersonation
headers) work on it too; credentials that need the kubernetes package keep urllib3 (LibraryTransport).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RETRY_STATUSES = (429, 503)
BACKOFF_S = 0.2
BACKOFF_MAX_S = 5.0
# How long a request waits for a prewarmed connection before it looks at signals (and the pool) again.
PREWARM_WAIT_SLICE_S = 0.1


@dataclass(frozen=True)
class Timeout:
    """Seconds to connect and to wait for each read (urllib3.Timeout's two fields)."""

    connect: float | None
    read: float | None


@dataclass(frozen=True)
class ReadRetries:
    """How often a read answered 429/503 is asked again (the Retry-After header sets each wait)."""

    total: int


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose SNI and verified name may differ from the host dialled (tls-server-name)."""

    def __init__(self, host: str, port: int | None, *, context: ssl.SSLContext, server_hostname: str | None,
                 timeout: float | None) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._server_hostname = server_hostname or host
        self._tls = context
        self._create_connection = _dial

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=_ascii(self._server_hostname))


def _ascii(host: str) -> str | bytes:
    """An ASCII host name or address as bytes, which getaddrinfo and ssl take as they are: given a str, both
    encode it with the idna codec, whose import (stringprep, unicodedata) costs a cold CLI ~1.5 ms. For an
    ASCII name that encoding is the name itself; a non-ASCII one is left to it."""
    return host.encode("ascii") if host.isascii() else host


def _dial(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
          source_address: tuple[str, int] | None = None) -> socket.socket:
    return socket.create_connection((_ascii(address[0]), address[1]), timeout, source_address)  # type: ignore[arg-type]


class Response:
    """What Kube reads of an answer: status, headers, the body (preloaded or streamed), release_conn()."""

    def __init__(self, raw: http.client.HTTPResponse, pool: StdlibPool, conn: http.client.HTTPConnection,
                 preload: bool) -> None:
        self.status = raw.status
        self.headers = raw.headers
        self._raw, self._pool, self._conn = raw, pool, conn
        self._data: bytes | None = None
        if preload:
            self._data = raw.read()
            self.release_conn()

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._raw.read()
        return self._data

    def read(self) -> bytes:
        return self.data

    def stream(self, amt: int = 65536) -> Iterator[bytes]:
        while True:
            chunk = self._raw.read1(amt) if hasattr(self._raw, "read1") else self._raw.read(amt)
            if not chunk:
                return
            yield chunk

    def release_conn(self) -> None:
        """Back to the pool when the body was read to its end and the server keeps the connection; else closed."""
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        raw = self._raw
        # read1 leaves a Content-Length body open at its last byte: length 0 is read to the end too.
        read_out = raw.isclosed() or (not raw.chunked and raw.length == 0)
        if read_out and not raw.will_close:
            raw.close()  # the body's file only (as read() does at its end): the socket stays for the next request
            self._pool._put(conn)
        else:
            conn.close()


class StdlibPool:
    """Connections to one server (scheme://host:port), reused LIFO; at most `maxsize` kept idle."""

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None,
                 maxsize: int = 16) -> None:
        parts = urlsplit(server)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "", parts.port
        self.base = f"{parts.scheme}://{parts.netloc}"
        self._context = ssl_context
        self._server_hostname = server_hostname
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize
        # prewarm(): connections being opened, the requests waiting for one of them, and the signal that
        # one was put (or failed)
        self._opening = 0
        self._waiting = 0
        self._opened = threading.Condition(self._lock)
        self._failures: list[BaseException] = []  # of prewarm connections a request was waiting for
        self._generation = 0  # clear() makes the connections still being opened stale
        self._openers: set[threading.Thread] = set()  # prewarm()'s threads still opening a connection

    # -- connections -----------------------------------------------------------------------------------------
    def _new(self, timeout: float | None) -> http.client.HTTPConnection:
        if self.scheme == "https":
            context = self._context or ssl.create_default_context()
            return _NamedHTTPSConnection(self.host, self.port, context=context, server_hostname=self._server_hostname,
                                         timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _get(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        """(a connection, whether it was reused): an idle one the server has not closed, else one that
        prewarm() is opening (as many requests wait as connections are being opened), else a new one."""
        while True:
            with self._lock:
                while not self._idle and not self._failures and self._waiting < self._opening:
                    self._waiting += 1
                    try:
                        self._opened.wait(PREWARM_WAIT_SLICE_S)  # in slices: a signal's handler runs between
                    finally:
                        self._waiting -= 1
                failure = self._failures.pop() if self._failures and not self._idle else None
                conn = self._idle.pop() if self._idle else None
                del self._failures[self._waiting:]  # errors are for requests still waiting, never later ones
            if failure is not None:
                # The connection this request waited for could not be opened: its error is the request's
                # (opening another would wait out the same connect timeout again).
                raise failure
            if conn is None:
                return self._new(timeout), False
            if _still_open(conn):
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                return conn, True
            conn.close()

    def _put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._maxsize:
                self._idle.append(conn)
                self._opened.notify()
                return
        conn.close()

    def prewarm(self, count: int, timeout: float | None = None) -> None:
        """Open up to `count` connections now, each on a daemon thread, into the idle list: their TCP and
        TLS handshakes (two round trips to a remote apiserver) overlap with whatever the caller does
        meanwhile (a cold doctor imports its rules) instead of delaying its first requests. A request
        that finds no idle connection waits for one being opened rather than opening one more. One that
        cannot be opened is dropped silently: the request that needed it opens its own and reports why."""
        from lmeval_setup.kube.readpool import start_without_main_thread_signals

        wanted = min(count, self._maxsize)
        with self._lock:
            wanted -= len(self._idle) + self._opening
            self._opening += max(wanted, 0)
        for _ in range(wanted):
            opener = threading.Thread(target=self._open_idle, args=(timeout,), name="kube-connect", daemon=True)
            with self._lock:
                self._openers.add(opener)
            start_without_main_thread_signals(opener)

    def _open_idle(self, timeout: float | None) -> None:
        try:
            self._open_one_idle(timeout)
        finally:
            with self._lock:
                self._openers.discard(threading.current_thread())

    def _open_one_idle(self, timeout: float | None) -> None:
        with self._lock:
            generation = self._generation
        conn = self._new(timeout)
        failure: BaseException | None = None
        try:
            conn.connect()
        except Exception as exc:  # see prewarm()
            failure = exc
        with self._lock:
            self._opening -= 1
            kept = failure is None and generation == self._generation and len(self._idle) < self._maxsize
            if kept:
                self._idle.append(conn)
            elif failure is not None and self._waiting > 0:
                self._failures.append(failure)  # a request waits for this connection: it gets its error
            self._opened.notify_all()
        if not kept:
            conn.close()

    def clear(self, wait: float = 0.0) -> None:
        """Closes the idle connections; those still being opened are closed when opened. With `wait`,
        waits up to that many seconds for their threads to end: a thread still inside OpenSSL's handshake
        when the process exits races the exit's OPENSSL_cleanup and the interpreter's finalization (a
        `doctor` that ended at once on a cluster without OpenShift AI, under load, died of SIGSEGV after
        printing its error). A thread blocked on a server that does not answer is in the kernel, not in
        OpenSSL, and is left when the wait ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
            self._failures.clear()
            openers = list(self._openers)
        for conn in idle:
            conn.close()
        deadline = time.monotonic() + wait
        for opener in openers:
            opener.join(max(0.0, deadline - time.monotonic()))

    # -- requests ---------------------------------------------------------------------------------------------
    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None, body: Any = None,
                timeout: Any = None, preload_content: bool = True, retries: Any = False) -> Response:
        """One request; a GET with `retries` is asked again (READ_RETRIES times) while the server answers
        429 or 503, after its Retry-After (else a growing back-off)."""
        path = url[len(self.base):] if url.startswith(self.base) else url
        attempts = 1 + (_retry_total(retries) if method == "GET" else 0)
        for attempt in range(attempts):
            response = self._once(method, path, headers, body, timeout, preload_content)
            if response.status not in RETRY_STATUSES or attempt == attempts - 1:
                return response
            response.release_conn()
            time.sleep(_wait_s(response.headers.get("Retry-After"), attempt))
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, headers: Mapping[str, str] | None, body: Any, timeout: Any,
              preload: bool) -> Response:
        connect_s, read_s = (timeout.connect, timeout.read) if isinstance(timeout, Timeout) else (timeout, timeout)
        for value in (connect_s, read_s):  # a caller's bug, said as one (never "cannot reach the cluster")
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"Timeout value {value!r} is not a number of seconds or None")
        conn, reused = self._get(connect_s)
        try:
            return self._send(conn, method, path, headers, body, read_s, preload)
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine,
                http.client.ImproperConnectionState):
            conn.close()
            if not reused:
                raise
        # The server closed a kept-alive connection as we reused it: once more on a fresh one.
        conn = self._new(connect_s)
        try:
            return self._send(conn, method, path, headers, body, read_s, preload)
        except BaseException:
            conn.close()
            raise

    def _send(self, conn: http.client.HTTPConnection, method: str, path: str, headers: Mapping[str, str] | None,
              body: Any, read_s: float | None, preload: bool) -> Response:
        data = body.encode() if isinstance(body, str) else body
        conn.putrequest(method, path, skip_accept_encoding=True)
        pairs = getattr(headers, "iteritems", None)  # urllib3's HTTPHeaderDict: one pair per repeated header
        for name, value in (pairs() if pairs else (headers or {}).items()):
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        if conn.sock is not None:
            conn.sock.settimeout(read_s)
        return Response(conn.getresponse(), self, conn, preload)


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive socket that reads as ready has been closed by the server (or sent junk)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    if not readable:
        return True
    if not isinstance(sock, ssl.SSLSocket):
        return False
    # A TLS 1.3 server sends its session tickets after the handshake: a connection opened ahead of its
    # first request (prewarm) reads as ready with nothing for us in it. A non-blocking read takes them in.
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        sock.recv(1)
    except (ssl.SSLWantReadError, BlockingIOError):
        return True  # only TLS records were waiting
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return False  # closed (b"") or a byte nobody asked for


def _retry_total(retries: Any) -> int:
    if not retries:
        return 0
    total = getattr(retries, "total", None)
    return int(total) if isinstance(total, int) else 0


def _wait_s(retry_after: str | None, attempt: int) -> float:
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), BACKOFF_MAX_S)
        except ValueError:
            pass  # an HTTP date: the back-off instead
    return min(BACKOFF_S * (2 ** attempt), BACKOFF_MAX_S)

