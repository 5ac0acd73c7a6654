"""One way to talk to a cluster: kubeconfig / context / in-cluster loading, raw REST calls, error mapping.

We use the official client for what it does well (kubeconfig parsing, auth plugins, TLS) and call the
REST API by path: custom resources need no generated classes, there is no discovery round-trip per
call, and every request is counted (the doctor's benchmark reports requests, and read-only commands
are checked to issue no writes). Errors become one-line `LmevalError`s with an exit code.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from lmeval_setup.errors import ClusterError, LmevalError, PrerequisiteError, UsageError

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "lmeval-setup"


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


class Kube:
    """A connected cluster. Create with `Kube.connect(kubeconfig, context)`."""

    def __init__(self, api_client: Any, context: str | None = None) -> None:
        self._api = api_client
        self.context = context
        self.requests = RequestLog()
        self.host: str = api_client.configuration.host

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        """kubeconfig path > KUBECONFIG > ~/.kube/config > in-cluster service account."""
        import yaml
        from kubernetes import client, config  # lazy: keeps `--help` fast
        from kubernetes.config.config_exception import ConfigException

        configuration = client.Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        path = path.split(os.pathsep)[0]
        try:
            if kubeconfig or os.path.exists(path):
                config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
            else:
                raise ClusterError(f"no kubeconfig at {path} and not running in a cluster", hint="pass --kubeconfig")
        except ConfigException as exc:
            raise ClusterError(f"kubeconfig {path}: {_first_line(exc)}") from None
        except yaml.YAMLError as exc:
            raise ClusterError(f"kubeconfig {path} is not YAML: {_yaml_problem(exc)}") from None
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ClusterError(f"kubeconfig {path} is not usable: {_first_line(exc)}") from None
        configuration.retries = 1
        api = client.ApiClient(configuration)
        return cls(api, context)

    # -- raw requests ----------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
        content_type: str = "application/json", accept: str = "application/json", timeout: float = 30,
        raw: bool = False,
    ) -> Any:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.host + path + (f"?{urlencode(query, doseq=True)}" if query else "")
        verb = "LIST" if method == "GET" and not _names_one(path) else method
        if query.get("watch"):
            verb = "WATCH"
        self.requests.add(verb)
        headers = {"Accept": accept, "Content-Type": content_type}
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, method, None)
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        try:
            # The pool manager directly: the generated REST layer changes shape between client releases.
            resp = self._api.rest_client.pool_manager.request(
                method, url, headers=headers, body=data, timeout=timeout, preload_content=True, retries=False
            )
        except Exception as exc:  # urllib3 raises many types; all mean "cannot reach the cluster"
            raise ClusterError(f"cannot reach the cluster at {self.host}: {_reason(exc)}") from None
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
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            return self.request("DELETE", path, body=body, query=_write_query(dry_run))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def pod_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A container's log through the apiserver's pods/log proxy.

        The Accept header is kubectl's: kube-apiserver 1.36 answers a bare text/plain with 406.
        """
        path = resource_path("", "v1", "pods", namespace, pod, "log")
        query = {"container": container, "tailLines": tail_lines, "limitBytes": limit_bytes}
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
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
        try:
            resp = self._api.rest_client.pool_manager.request(
                "GET", url, headers=headers, preload_content=False, timeout=timeout_seconds + 10, retries=False
            )
        except Exception as exc:
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
        except ClusterError:
            raise
        except ApiError:
            raise
        except Exception as exc:  # connection dropped mid-stream: the caller re-lists and re-watches
            raise ClusterError(f"watch on {path} interrupted: {_reason(exc)}") from None
        finally:
            resp.release_conn()

    def server_version(self) -> JSON:
        return self.get("/version")

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

    def close(self) -> None:
        self._api.close()


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


def _yaml_problem(exc: Exception) -> str:
    """The parser's problem and line on one line (its own message spans several)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return _first_line(exc)


def _first_line(exc: object) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)
