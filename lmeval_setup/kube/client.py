"""One way to talk to a cluster: kubeconfig / context / in-cluster loading, raw REST calls, error mapping.

The kubeconfig (tokens, token files, client certificates, CAs) and the in-cluster service
account are read by `kube.kubeconfig` and spoken over a standard-library keep-alive pool (kube.pool):
importing the official client costs more than a cold `doctor -n NS` does otherwise, and urllib3 a tenth
of it. Both are loaded only for credentials that run code (`exec` plugins, `auth-provider`) or a
`proxy-url`. The REST API is called by path: custom resources
need no generated classes, there is no discovery round-trip per call, and every request is counted (the
doctor's benchmark reports requests, and read-only commands are checked to issue no writes). Errors
become one-line `LmevalError`s with an exit code.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from lmeval_setup.errors import BAD_KUBECONFIG, ClusterError, LmevalError, PrerequisiteError, UsageError

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "lmeval-setup"
# Seconds per request when --request-timeout is not given (kubectl waits forever; a CLI should not).
DEFAULT_REQUEST_TIMEOUT = 30.0
# How --request-timeout reaches code in other processes (bootstrap's Ansible modules).
REQUEST_TIMEOUT_ENV = "LMEVAL_REQUEST_TIMEOUT"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


# How long closing a client waits for connections prewarm() is still opening: a handshake with a server that
# answers takes milliseconds; one that does not answer is left (its thread is blocked in the kernel).
OPENING_WAIT_S = 2.0

class ApiError(LmevalError):
    """A non-2xx answer the caller may want to handle (404, 409, 422, ...)."""

    def __init__(self, status: int, reason: str, message: str, body: JSON | None = None) -> None:
        super().__init__(message or reason)
        self.status = status
        self.reason = reason
        self.body = body or {}
        self.exit_code = _exit_code_for(status)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class WatchInterrupted(ClusterError):
    """A watch whose stream broke after it had started (the apiserver went away): the caller re-lists and
    watches again. Still "cannot reach the cluster" (exit 3) for a caller that does not."""


def _exit_code_for(status: int) -> Any:
    if status in (401,):
        return ClusterError.exit_code
    if status == 403:
        return PrerequisiteError.exit_code
    return LmevalError.exit_code


@dataclass
class RequestLog:
    """Counts requests by verb; thread-safe because the doctor fetches logs concurrently."""

    by_verb: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, verb: str) -> None:
        with self._lock:
            self.by_verb[verb] = self.by_verb.get(verb, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())

    @property
    def writes(self) -> int:
        return sum(n for v, n in self.by_verb.items() if v not in ("GET", "LIST", "WATCH"))


def resource_path(
    group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
    subresource: str | None = None,
) -> str:
    """'/apis/g/v[/namespaces/ns]/plural[/name[/sub]]', or '/api/v1/...' for the core group."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    if name:
        base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
    return base


# Connections kept per host: the doctor reads logs 8 at a time, and a dropped connection costs a TLS handshake.
POOL_SIZE = 16


class Transport(Protocol):
    """How requests reach the apiserver: a pool shaped like urllib3's (kube.pool, or urllib3's own) and
    each request's Authorization."""

    host: str
    pool: Any

    def authorize(self, headers: dict[str, str], path: str, method: str) -> None: ...

    def close(self, wait: bool = True) -> None: ...


class PlainTransport:
    """A keep-alive pool with the kubeconfig's TLS settings (CA, client certificate; insecure-skip-tls-verify
    and tls-server-name are the ssl context's and the SNI's) and its bearer token, if any."""

    def __init__(self, endpoint: Any) -> None:
        from lmeval_setup.kube import kubeconfig as K
        from lmeval_setup.kube.pool import StdlibPool

        self.host = endpoint.server
        self._endpoint = endpoint
        self._token_read: tuple[float, str] | None = None  # (mtime, token) of a token file
        https = self.host.startswith("https")
        self.pool: Any = StdlibPool(self.host, ssl_context=K.ssl_context(endpoint) if https else None,
                                    server_hostname=endpoint.tls_server_name, maxsize=POOL_SIZE)

    def authorize(self, headers: dict[str, str], path: str, method: str) -> None:
        del path, method
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"

    def _token(self) -> str | None:
        if self._endpoint.token or not self._endpoint.token_file:
            return self._endpoint.token
        path = self._endpoint.token_file
        try:
            mtime = os.stat(path).st_mtime
            if self._token_read is None or self._token_read[0] != mtime:  # rotated: read it again
                with open(path, encoding="utf-8") as fh:
                    self._token_read = (mtime, fh.read().strip())
        except OSError as exc:
            raise ClusterError(f"token file {path}: {exc.strerror or exc}", reason=BAD_KUBECONFIG) from None
        return self._token_read[1]

    def close(self, wait: bool = True) -> None:
        self.pool.clear(wait=OPENING_WAIT_S if wait else 0.0)


class LibraryTransport:
    """The kubernetes package's Configuration, for credentials only it can produce (exec, auth-provider, proxy).

    Only its public fields are used: the TLS files and proxy it resolved build our own urllib3 pool, and
    its auth settings give each request's Authorization (reading them calls the package's refresh hook,
    which runs the plugin again when its credential expired)."""

    def __init__(self, configuration: Any) -> None:
        import urllib3

        self._configuration = configuration
        self.host: str = configuration.host
        options: dict[str, Any] = {
            "maxsize": POOL_SIZE, "block": False, "ca_certs": configuration.ssl_ca_cert,
            "cert_file": configuration.cert_file, "key_file": configuration.key_file,
            "cert_reqs": "CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE",
        }
        if configuration.tls_server_name:
            options["server_hostname"] = configuration.tls_server_name
        proxy = configuration.proxy
        if proxy and proxy.startswith("socks"):
            from urllib3.contrib.socks import SOCKSProxyManager

            self.pool: Any = SOCKSProxyManager(proxy, **options)
        elif proxy:
            self.pool = urllib3.ProxyManager(proxy, proxy_headers=configuration.proxy_headers, **options)
        else:
            self.pool = urllib3.PoolManager(**options)

    def authorize(self, headers: dict[str, str], path: str, method: str) -> None:
        del path, method
        for setting in self._configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"].title()] = setting["value"]

    def close(self, wait: bool = True) -> None:
        self.pool.clear()  # urllib3's pool opens connections only in the requesting thread


class Kube:
    """A connected cluster. Create with `Kube.connect(kubeconfig, context)`."""

    def __init__(self, transport: Transport, context: str | None = None, request_timeout: float | None = None) -> None:
        self._transport = transport
        self.context = context
        self.requests = RequestLog()
        self.host: str = transport.host
        # None: no client-side limit (kubectl's --request-timeout=0)
        self.request_timeout = DEFAULT_REQUEST_TIMEOUT if request_timeout is None else (request_timeout or None)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None,
                request_timeout: float | None = None) -> Kube:
        """kubeconfig path(s) > KUBECONFIG > ~/.kube/config > in-cluster service account.

        Several files (`a:b`, as KUBECONFIG allows) are merged the way kubectl merges them.
        request_timeout: seconds per request, 0 for none; default: $LMEVAL_REQUEST_TIMEOUT, else 30.
        """
        # The `cluster` extra (urllib3 and the rest): a light install learns it needs it before anything else.
        _require_cluster_extra()

        from lmeval_setup.kube import kubeconfig as K

        paths = kubeconfig_paths(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
        path = os.pathsep.join(paths)
        try:
            if kubeconfig or any(os.path.exists(p) for p in paths):
                endpoint = K.file_endpoint(paths, context)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                endpoint = K.in_cluster()
            else:
                raise ClusterError(f"no kubeconfig at {path} and not running in a cluster", hint="pass --kubeconfig",
                                   reason=BAD_KUBECONFIG)
            transport: Transport = (_library_transport(paths, context, path) if endpoint.needs_library
                                    else PlainTransport(endpoint))
        except kubeconfig_load_errors() as exc:
            raise kubeconfig_error(exc, f"kubeconfig {path}") from None
        if request_timeout is None and os.environ.get(REQUEST_TIMEOUT_ENV):
            request_timeout = parse_duration(os.environ[REQUEST_TIMEOUT_ENV])
        return cls(transport, context, request_timeout)

    def prewarm(self, connections: int) -> None:
        """Open this many connections in the background now (kube.pool.StdlibPool.prewarm), so their
        handshakes overlap with the caller's own work; a no-op on a transport that cannot (urllib3's
        pool, for exec/auth-provider credentials and proxies)."""
        prewarm = getattr(self._transport.pool, "prewarm", None)
        if prewarm is not None:
            prewarm(connections, timeout=self.request_timeout)

    # -- raw requests ----------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
        content_type: str = "application/json", accept: str = "application/json", timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.host + path + (f"?{urlencode(query, doseq=True)}" if query else "")
        verb = "LIST" if method == "GET" and not _names_one(path) else method
        if query.get("watch"):
            verb = "WATCH"
        self.requests.add(verb)
        headers = {"Accept": accept, "Content-Type": content_type}
        self._transport.authorize(headers, path, method)
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        timeout = self.request_timeout if timeout is None else timeout
        try:
            # The pool manager directly: the generated REST layer changes shape between client releases.
            resp = self._transport.pool.request(
                method, url, headers=headers, body=data, timeout=timeout, preload_content=True,
                retries=_read_retries(self._transport.pool) if method == "GET" else False,
            )
        except _transport_errors() as exc:  # only these mean "cannot reach the cluster"; a bug stays a bug
            reason = _reason(exc)
            if reason == "timed out" and timeout:
                reason += f" (no answer within {timeout:g} s; --request-timeout sets the limit)"
            raise ClusterError(f"cannot reach the cluster at {self.host}: {reason}") from None
        payload = resp.data
        if resp.status >= 400:
            raise _api_error(resp.status, payload, method, path)
        if raw:
            return payload.decode("utf-8", errors="replace")
        return json.loads(payload) if payload else {}

    def get(self, path: str, **query: Any) -> JSON:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> JSON | None:
        try:
            return self.get(path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def list_items(self, path: str, *, page_size: int = 500, **query: Any) -> Iterator[JSON]:
        """Follow `continue` tokens so a large list never lands in one response."""
        token = None
        while True:
            page = self.request("GET", path, query={**query, "limit": page_size, "continue": token})
            yield from page.get("items", [])
            token = page.get("metadata", {}).get("continue")
            if not token:
                return

    def create(self, path: str, body: JSON, *, dry_run: bool = False) -> JSON:
        return self.request("POST", path, body=body, query=_write_query(dry_run))

    def merge_patch(self, path: str, patch: JSON, *, dry_run: bool = False) -> JSON:
        """Custom resources only take JSON merge patches (strategic merge answers 415)."""
        return self.request("PATCH", path, body=patch, content_type=MERGE_PATCH, query=_write_query(dry_run))

    def json_patch(self, path: str, ops: list[JSON], *, dry_run: bool = False) -> JSON:
        return self.request("PATCH", path, body=ops, content_type=JSON_PATCH, query=_write_query(dry_run))

    def apply(self, path: str, body: JSON, *, dry_run: bool = False, force: bool = True) -> JSON:
        query = {**_write_query(dry_run), "force": "true" if force else None}
        return self.request("PATCH", path, body=json.dumps(body), content_type=APPLY_PATCH, query=query)

    def replace(self, path: str, body: JSON, *, dry_run: bool = False) -> JSON:
        return self.request("PUT", path, body=body, query=_write_query(dry_run))

    def delete(self, path: str, *, dry_run: bool = False, propagation: str | None = "Background") -> JSON | None:
        # Options in the query string, no DeleteOptions body: with a body the apiserver reads every option,
        # dryRun included, from the body alone, and a dry run would delete for real.
        query = {"dryRun": "All" if dry_run else None, "propagationPolicy": propagation}
        try:
            return self.request("DELETE", path, query=query)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def pod_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int | None = None,
        limit_bytes: int | None = None, since_seconds: int | None = None,
    ) -> str:
        """A container's log through the apiserver's pods/log proxy; `since_seconds` keeps the lines the kubelet
        recorded in that many seconds before its own now (relative, so no clock needs to agree with ours).

        The Accept header is kubectl's: kube-apiserver 1.36 answers a bare text/plain with 406.
        """
        path = resource_path("", "v1", "pods", namespace, pod, "log")
        query = {"container": container, "tailLines": tail_lines, "limitBytes": limit_bytes,
                 "sinceSeconds": since_seconds}
        return str(self.request("GET", path, query=query, accept="application/json, */*", raw=True))

    def watch(
        self, path: str, *, resource_version: str | None = None, timeout_seconds: int = 60, **query: Any
    ) -> Iterator[JSON]:
        """Stream watch events ({"type", "object"}) until the server closes the watch."""
        query = {**query, "watch": "1", "resourceVersion": resource_version, "timeoutSeconds": timeout_seconds,
                 "allowWatchBookmarks": "true"}
        query = {k: v for k, v in query.items() if v is not None}
        url = self.host + path + f"?{urlencode(query, doseq=True)}"
        self.requests.add("WATCH")
        headers = {"Accept": "application/json"}
        self._transport.authorize(headers, path, "GET")
        # The server ends the watch after timeout_seconds; --request-timeout bounds connecting to it.
        timeout = _timeout(self._transport.pool, self.request_timeout, timeout_seconds + 10)
        try:
            resp = self._transport.pool.request(
                "GET", url, headers=headers, preload_content=False, timeout=timeout, retries=False
            )
        except _transport_errors() as exc:
            raise ClusterError(f"cannot reach the cluster at {self.host}: {_reason(exc)}") from None
        try:
            if resp.status >= 400:
                raise _api_error(resp.status, resp.read(), "WATCH", path)
            buffer = b""
            for chunk in resp.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        except _transport_errors() as exc:  # connection dropped mid-stream: the caller re-lists and re-watches
            raise WatchInterrupted(f"watch on {path} interrupted: {_reason(exc)}") from None
        finally:
            resp.release_conn()

    def can_i(self, verb: str, group: str, resource: str, namespace: str | None = None,
              name: str | None = None, subresource: str | None = None) -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "verb": verb, "group": group, "resource": resource, "namespace": namespace,
                "name": name, "subresource": subresource,
            }},
        }
        answer = self.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
        )
        return bool(answer.get("status", {}).get("allowed"))

    def close(self, wait: bool = True) -> None:
        """Closes the idle connections; `wait` (not on an interrupt) also waits, up to OPENING_WAIT_S, for
        those still being opened by prewarm()'s threads (kube.pool.StdlibPool.clear says why)."""
        self._transport.close(wait)


def kubeconfig_paths(value: str) -> list[str]:
    """KUBECONFIG's list (`a:b`, ';' on Windows) as absolute paths, in order."""
    return [os.path.abspath(os.path.expanduser(p)) for p in value.split(os.pathsep) if p.strip()]


def merged_kubeconfig(paths: list[str]) -> Any:
    """The files merged as kubectl merges KUBECONFIG: missing files are skipped, the first file that
    defines a cluster, user or context name wins, and so does the first non-empty current-context.

    The client library's merger agrees except for current-context, where its LAST file wins; entries
    keep the file they came from, so relative certificate paths resolve against their own file.
    """
    from kubernetes.config.kube_config import KubeConfigMerger

    from lmeval_setup import safeio

    for path in paths:  # the library opens them blindly: a FIFO would block it, a device never end
        if os.path.exists(path):
            try:
                safeio.read_bytes(path, limit=16 * safeio.MiB)
            except safeio.UnreadableInput as exc:
                raise ClusterError(f"kubeconfig {exc}", reason=BAD_KUBECONFIG) from None
    merger = KubeConfigMerger(os.pathsep.join(paths))
    if merger.config is not None:
        first = next((cfg.get("current-context") for cfg in merger.config_files.values()
                      if isinstance(cfg, dict) and cfg.get("current-context")), None)
        if first:
            merger.config.value["current-context"] = first
    return merger


def kubeconfig_context(kubeconfig: str | None, context: str | None = None) -> JSON | None:
    """The context entry kubectl would use ({"cluster", "user", "namespace"}), None when there is none."""
    from lmeval_setup.kube import kubeconfig as K

    paths = kubeconfig_paths(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
    try:
        merged = K.merge(paths)
        return dict(K.context_entry(merged, context)[1]) if merged is not None else None
    except Exception:  # no kubeconfig (in-cluster) or an unusual one: the caller's fallback applies
        return None


def _library_transport(paths: list[str], context: str | None, display: str) -> LibraryTransport:
    """The kubernetes package for an exec plugin, an auth-provider or a proxy-url (it runs the plugin now)."""
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader

    configuration = client.Configuration()
    merger = merged_kubeconfig(paths)
    try:
        if merger.config is None:
            raise ConfigException("Invalid kube-config file. No configuration found.")
        loader = KubeConfigLoader(config_dict=merger.config, active_context=context, config_base_path=None,
                                  config_persister=merger.save_changes)
        loader.load_and_set(configuration)
    except ConfigException as exc:
        raise ClusterError(f"kubeconfig {display}: {_first_line(exc)}", reason=BAD_KUBECONFIG) from None
    return LibraryTransport(configuration)


def parse_duration(text: str) -> float:
    """kubectl's --request-timeout: a Go duration (`30s`, `1m30s`, `500ms`) or bare seconds; 0 means none."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if not value or _DURATION_PART.sub("", value):
        raise UsageError(f"invalid duration {text!r}", hint="use e.g. 30s, 2m, 1m30s, 500ms or 0 for none")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def _names_one(path: str) -> bool:
    """True when the path addresses one object (or a subresource of one) rather than a collection."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return len(rest) != 1


def _write_query(dry_run: bool) -> dict[str, Any]:
    return {"dryRun": "All" if dry_run else None, "fieldManager": FIELD_MANAGER}


def _api_error(status: int, payload: bytes, method: str, path: str) -> ApiError:
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    message = body.get("message") or payload.decode("utf-8", errors="replace")[:300]
    reason = body.get("reason", "")
    if status == 401:
        return ApiError(status, reason, f"unauthorised: the cluster rejected the credentials ({message})", body)
    return ApiError(status, reason, f"{method} {path}: {message}", body)


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None) or exc
    text = str(inner)
    for marker in ("Connection refused", "Name or service not known", "timed out", "CERTIFICATE_VERIFY_FAILED"):
        if marker in text:
            return marker.lower() if marker != "CERTIFICATE_VERIFY_FAILED" else "TLS certificate not trusted"
    return _first_line(inner)


# A read answered 429 (API priority and fairness) or 503 (an apiserver or aggregated API not ready yet) is
# the server asking to come back: retried here, the one place, honouring Retry-After. Writes are not
# retried (a 503 may come after the write happened), nor are connection failures (exit 3 at once).
READ_RETRIES = 3


def _read_retries(pool: Any) -> Any:
    from lmeval_setup.kube.pool import ReadRetries, StdlibPool

    if isinstance(pool, StdlibPool):
        return ReadRetries(READ_RETRIES)
    import urllib3

    return urllib3.Retry(
        total=READ_RETRIES, connect=0, read=0, other=0, status=READ_RETRIES, redirect=False,
        status_forcelist=(429, 503), allowed_methods=frozenset({"GET"}), backoff_factor=0.2, backoff_max=5.0,
        respect_retry_after_header=True, raise_on_status=False,
    )


def _timeout(pool: Any, connect: float | None, read: float | None) -> Any:
    """The pool's own timeout type: kube.pool.Timeout, or urllib3.Timeout for a urllib3 pool."""
    from lmeval_setup.kube.pool import StdlibPool, Timeout

    if isinstance(pool, StdlibPool):
        return Timeout(connect, read)
    import urllib3

    return urllib3.Timeout(connect=connect, read=read)


def _require_cluster_extra() -> None:
    """ModuleNotFoundError (main() turns it into "needs the cluster extra", exit 4) without importing urllib3."""
    from importlib.util import find_spec

    if find_spec("urllib3") is None:
        raise ModuleNotFoundError("No module named 'urllib3'", name="urllib3")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What a request raises when the network, TLS or the server's connection fails: the standard library's
    errors, and urllib3's when a urllib3 pool is in use (then it is loaded)."""
    import http.client
    import sys

    errors: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
    if "urllib3.exceptions" in sys.modules:
        errors += (sys.modules["urllib3.exceptions"].HTTPError,)
    return errors


def kubeconfig_load_errors() -> tuple[type[Exception], ...]:
    """What loading a kubeconfig raises when the file or a value in it cannot be used: the loader's own
    errors and what a malformed value makes it raise. A function, because `except` evaluates it only
    when something is raised, and the loader (it imports yaml) stays off the import path until then."""
    from lmeval_setup.kube import kubeconfig as K

    return (K.KubeconfigError, OSError, ValueError, TypeError, AttributeError)


def kubeconfig_error(exc: Exception, what: str, unusable: str = "is not usable") -> ClusterError:
    """THE one line for a kubeconfig that cannot be loaded, naming `what` (its path(s), or the connection
    options): Kube.connect, bootstrap's offline check and the Ansible modules' connection all say it so.
    The loader's kind of failure (not_yaml, wrong_context, bad_kubeconfig) travels as the reason."""
    from lmeval_setup.kube import kubeconfig as K

    if isinstance(exc, K.KubeconfigNotYaml):
        return ClusterError(f"{what} is not YAML: {exc}", reason=exc.reason)
    if isinstance(exc, K.KubeconfigError):
        return ClusterError(f"{what}: {_first_line(exc)}", reason=exc.reason)
    return ClusterError(f"{what} {unusable}: {_first_line(exc)}", reason=BAD_KUBECONFIG)


def _first_line(exc: object) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

