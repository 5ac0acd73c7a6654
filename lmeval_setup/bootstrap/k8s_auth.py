"""A cluster connection from kubernetes.core's connection options, built the way kubernetes.core builds it.

In AWX the "OpenShift or Kubernetes API Bearer Token" credential injects K8S_AUTH_HOST, K8S_AUTH_API_KEY
and K8S_AUTH_VERIFY_SSL. The role's kubernetes.core.k8s tasks honour them; our modules must reach the same
cluster, or facts come from one cluster and patches go to another (issue 13 item 2). The collection's
module_utils (`lmeval.setup` plugins/module_utils/k8s_auth.py) resolves each option from the task or the
K8S_AUTH_* environment exactly as kubernetes.core's `_create_auth_spec` does; this module turns the result
into a `Kube`, following kubernetes.core 6.x `module_utils/k8s/client.py::_create_configuration`:

1. host with api_key (or with client_cert + client_key, or username + password) is enough: no kubeconfig
   and no in-cluster configuration is read;
2. else, with a kubeconfig or a context: that kubeconfig (default KUBECONFIG, else ~/.kube/config);
3. else the pod's service account, and outside a pod the default kubeconfig;
4. then every option that was given overrides what 2 or 3 loaded: host replaces the server, api_key the
   credentials (a bearer token), validate_certs/ca_cert/client_cert/client_key the TLS settings, proxy
   the route.

It is ported onto the project's own transport rather than calling kubernetes.core's functions, because
those import the kubernetes package (~0.5 s per module run); credentials only that package can produce
(an `exec` plugin, an `auth-provider`, a `proxy-url`) still go through it, with the same overrides.
username/password are accepted like kubernetes.core accepts them; the client library sends no basic
auth since v12, and neither does this.

Where each option comes from (the task's value, else K8S_AUTH_<OPTION>, else K8S_AUTH_<client name>) is
`resolve_auth` / `resolve_impersonation` here, used by the modules (their module_utils delegates to them) and by
the CLI's own commands (`connect_cli`: doctor, lint's cluster checks, results, provision, bootstrap's no-op
fast path), whose --kubeconfig/--context are the task's options: one resolution, one precedence, so in AWX
the CLI and the role read the same cluster as the same identity.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from lmeval_setup.kube import kubeconfig as K
from lmeval_setup.kube.client import (
    REQUEST_TIMEOUT_ENV,
    Kube,
    LibraryTransport,
    PlainTransport,
    Transport,
    kubeconfig_error,
    kubeconfig_load_errors,
    kubeconfig_paths,
    parse_duration,
)

JSON = dict[str, Any]


# kubernetes.core's args_common.AUTH_ARG_MAP (client library name -> option name) and the option types the
# environment's strings are read as; tests/unit/test_k8s_auth.py pins them to the collection's spec.
AUTH_ARG_MAP = {
    "kubeconfig": "kubeconfig", "context": "context", "host": "host", "api_key": "api_key",
    "username": "username", "password": "password", "verify_ssl": "validate_certs", "ssl_ca_cert": "ca_cert",
    "cert_file": "client_cert", "key_file": "client_key", "proxy": "proxy", "no_proxy": "no_proxy",
    "proxy_headers": "proxy_headers", "persist_config": "persist_config",
}
BOOL_OPTIONS = frozenset(("validate_certs", "persist_config"))
PROXY_HEADER_KEYS = ("proxy_basic_auth", "basic_auth", "user_agent")  # all str in kubernetes.core's spec
FALSE_WORDS = ("0", "false", "no")
ENV_PREFIX = "K8S_AUTH_"


def _env_bool(value: str) -> bool:
    return value.lower() not in FALSE_WORDS


def resolve_auth(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> JSON:
    """{client name: value} for every option given by the task (params) or the environment, as kubernetes.core
    6.x's _create_auth_spec takes them: the task's value, else K8S_AUTH_<OPTION>, else K8S_AUTH_<client name>
    (`or`: an empty K8S_AUTH_HOST falls through to the next name); a boolean from the environment is false only
    for 0, false and no."""
    env = os.environ if environ is None else environ
    auth: JSON = {}
    for true_name, arg_name in AUTH_ARG_MAP.items():
        if params.get(arg_name) is not None:
            auth[true_name] = params[arg_name]
        elif arg_name == "proxy_headers":
            headers = {key: env[f"{ENV_PREFIX}PROXY_HEADERS_{key.upper()}"] for key in PROXY_HEADER_KEYS
                       if env.get(f"{ENV_PREFIX}PROXY_HEADERS_{key.upper()}") is not None}
            auth[true_name] = headers
        else:
            value = env.get(f"{ENV_PREFIX}{arg_name.upper()}") or env.get(f"{ENV_PREFIX}{true_name.upper()}")
            if value is not None:
                auth[true_name] = _env_bool(value) if arg_name in BOOL_OPTIONS else value
    return auth


def resolve_impersonation(params: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> JSON:
    """{"impersonate_user": ..., "impersonate_groups": [...]} from the task, else K8S_AUTH_IMPERSONATE_*
    (groups comma-separated), as kubernetes.core's _create_headers."""
    env = os.environ if environ is None else environ
    found: JSON = {}
    for name in ("impersonate_user", "impersonate_groups"):
        value = params.get(name)
        if value is None:
            value = env.get(f"{ENV_PREFIX}{name.upper()}")
            if value is not None and name == "impersonate_groups":
                value = [part for part in value.split(",") if part != ""]
        if value:
            found[name] = value
    return found


def secrets_of(auth: Mapping[str, Any]) -> list[str]:
    """Values that must never be printed: Ansible masks no_log options, not what came from the environment."""
    values = [auth.get("api_key"), auth.get("password")]
    values += [v for k, v in (auth.get("proxy_headers") or {}).items() if k != "user_agent"]
    return [v for v in values if isinstance(v, str) and v]


def environment_sets_connection(environ: Mapping[str, str] | None = None) -> bool:
    """Whether any K8S_AUTH_* variable says something about the connection (an empty one says nothing)."""
    env = os.environ if environ is None else environ
    return any(value for name, value in env.items() if name.startswith(ENV_PREFIX))


def connect_cli(kubeconfig: str | None, context: str | None, request_timeout: float | None = None,
                environ: Mapping[str, str] | None = None) -> Kube:
    """The CLI's own connection: --kubeconfig (or KUBECONFIG) and --context are the task's options, K8S_AUTH_*
    the environment, resolved and applied as for the modules (AWX's bearer-token credential: host with api_key,
    so the kubeconfig is not read). With no K8S_AUTH_* variable this is kubectl's resolution (Kube.connect:
    an explicit or $KUBECONFIG file, ~/.kube/config, then the pod's service account), as before."""
    env = os.environ if environ is None else environ
    if not environment_sets_connection(env):
        return Kube.connect(kubeconfig, context, request_timeout)
    from lmeval_setup.kube.client import _require_cluster_extra

    _require_cluster_extra()
    auth = resolve_auth({"kubeconfig": kubeconfig, "context": context}, env)
    return connect_with_auth(auth, resolve_impersonation({}, env), env, request_timeout)


def _given(auth: Mapping[str, Any], *names: str) -> bool:
    return all(auth.get(name) for name in names)


def base_source(auth: Mapping[str, Any]) -> str:
    """Where the connection starts from, by kubernetes.core's order: "options" (they authenticate on
    their own), "kubeconfig" (a kubeconfig or context was given), else "in_cluster_then_kubeconfig"."""
    if (_given(auth, "username", "password", "host") or _given(auth, "api_key", "host")
            or _given(auth, "cert_file", "key_file", "host")):
        return "options"
    if _given(auth, "kubeconfig") or _given(auth, "context"):
        return "kubeconfig"
    return "in_cluster_then_kubeconfig"


def connect_with_auth(auth: Mapping[str, Any], impersonate: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None, request_timeout: float | None = None) -> Kube:
    """A Kube for kubernetes.core's resolved options (client names: host, api_key, verify_ssl, ssl_ca_cert,
    cert_file, key_file, proxy, no_proxy, proxy_headers, kubeconfig, context) and impersonation headers.
    request_timeout: seconds per request, 0 for none; default: $LMEVAL_REQUEST_TIMEOUT, else 30."""
    env = os.environ if environ is None else environ
    auth = dict(auth)
    if auth.get("host"):
        auth["host"] = str(auth["host"]).rstrip("/")
    try:
        base = _base(auth, env)
        transport = (_library(auth, env) if base.needs_library
                     else _plain(_override(base, auth), auth))
    except kubeconfig_load_errors() as exc:
        if isinstance(exc, K.KubeconfigError):
            raise kubeconfig_error(exc, _what(auth, env)) from None
        raise kubeconfig_error(exc, "connection options", unusable="not usable") from None
    headers = impersonation_headers(impersonate or {})
    if headers:
        transport = ImpersonatingTransport(transport, headers)
    if request_timeout is None and env.get(REQUEST_TIMEOUT_ENV):
        request_timeout = parse_duration(env[REQUEST_TIMEOUT_ENV])
    return Kube(transport, auth.get("context") or None, request_timeout)


def _what(auth: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """What a failure is about, named as Kube.connect names it: "kubeconfig <path(s)>" (a path is no secret),
    "kubeconfig (inline)" for a dict (its content may be), "connection options" when none was read."""
    if base_source(auth) == "options":
        return "connection options"  # host with credentials: no kubeconfig was read, their TLS settings failed
    kubeconfig = auth.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        return "kubeconfig (inline)"
    paths = kubeconfig_paths(str(kubeconfig or env.get("KUBECONFIG") or "~/.kube/config"))
    return "kubeconfig " + os.pathsep.join(paths)


# -- the base: options alone, a kubeconfig, or the pod's service account ---------------------------------
def _base(auth: Mapping[str, Any], env: Mapping[str, str]) -> K.Endpoint:
    source = base_source(auth)
    if source == "options":
        # kubernetes.core starts from the client's default Configuration; every field comes from the options
        return K.Endpoint(server=str(auth["host"]))
    if source == "in_cluster_then_kubeconfig":
        try:
            return K.in_cluster()
        except K.KubeconfigError:
            pass  # not in a pod: the default kubeconfig, as kubernetes.core falls back to it
    return _kubeconfig_endpoint(auth.get("kubeconfig"), auth.get("context") or None, env)


def _kubeconfig_endpoint(kubeconfig: Any, context: str | None, env: Mapping[str, str]) -> K.Endpoint:
    if isinstance(kubeconfig, dict):
        return K.endpoint(_merged_document(kubeconfig), context)
    # The failure names the path(s) itself: kubeconfig_error() prefixes "kubeconfig <paths>".
    return K.file_endpoint(kubeconfig_paths(str(kubeconfig or env.get("KUBECONFIG") or "~/.kube/config")), context)


def _merged_document(document: JSON) -> K.Merged:
    """A kubeconfig given inline (kubernetes.core's `kubeconfig` may be a dict): relative paths in it resolve
    against the working directory, as the client library's loader resolves them."""
    merged = K.merge([os.curdir], reader=lambda _path: document)
    if merged is None:
        raise K.KubeconfigError("Invalid kube-config file. No configuration found.")
    here = os.getcwd()
    for section in (merged.clusters, merged.users, merged.contexts):
        for name, entry in section.items():
            section[name] = dataclasses.replace(entry, base=here)
    return merged


# -- the overrides -----------------------------------------------------------------------------------------
def _override(endpoint: K.Endpoint, auth: Mapping[str, Any]) -> K.Endpoint:
    """Every option given replaces what the base loaded (kubernetes.core sets them on the Configuration)."""
    changes: JSON = {}
    if auth.get("host"):
        changes["server"] = auth["host"]
    if auth.get("api_key"):
        changes.update(token=str(auth["api_key"]), token_file=None)
    if auth.get("verify_ssl") is not None:
        changes["insecure"] = not auth["verify_ssl"]
    if auth.get("ssl_ca_cert"):
        changes.update(ca_file=_expand(auth["ssl_ca_cert"]), ca_data=None)
    if auth.get("cert_file"):
        changes.update(cert_file=_expand(auth["cert_file"]), cert_data=None)
    if auth.get("key_file"):
        changes.update(key_file=_expand(auth["key_file"]), key_data=None)
    fields = {f.name for f in dataclasses.fields(K.Endpoint)}
    return dataclasses.replace(endpoint, **{k: v for k, v in changes.items() if k in fields})


def _expand(path: Any) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def _plain(endpoint: K.Endpoint, auth: Mapping[str, Any]) -> Transport:
    transport = PlainTransport(endpoint)
    proxy = proxy_for(endpoint.server, auth)
    if proxy:
        _route_through_proxy(transport, endpoint, proxy, auth.get("proxy_headers"))
    return transport


def proxy_for(server: str, auth: Mapping[str, Any]) -> str | None:
    """The proxy to use for `server`, unless no_proxy bypasses it. The kubernetes client asks requests'
    should_bypass_proxies (host suffixes, CIDRs, `*`); so does this, with a suffix rule when requests is absent."""
    proxy = auth.get("proxy")
    if not proxy:
        return None
    no_proxy = str(auth.get("no_proxy") or "")
    if no_proxy:
        try:
            from requests.utils import should_bypass_proxies
        except ImportError:
            from urllib.parse import urlsplit

            host = (urlsplit(server).hostname or "").lower()
            entries = [e.strip().lower() for e in no_proxy.split(",") if e.strip()]
            if any(e == "*" or host.endswith(e) for e in entries):
                return None
        else:
            if should_bypass_proxies(server, no_proxy=no_proxy):
                return None
    return str(proxy)


def _route_through_proxy(transport: PlainTransport, endpoint: K.Endpoint, proxy: str, headers: Any) -> None:
    import urllib3

    from lmeval_setup.kube.client import POOL_SIZE

    options: JSON = {"maxsize": POOL_SIZE, "block": False}
    if endpoint.server.startswith("https"):
        options["ssl_context"] = K.ssl_context(endpoint)
        if endpoint.insecure:
            options["cert_reqs"] = "CERT_NONE"
        if endpoint.tls_server_name:
            options["server_hostname"] = endpoint.tls_server_name
    proxy_headers = urllib3.util.make_headers(**{k: v for k, v in (headers or {}).items() if v is not None})
    if proxy.startswith("socks"):
        from urllib3.contrib.socks import SOCKSProxyManager

        transport.pool = SOCKSProxyManager(proxy, **options)
    else:
        transport.pool = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers or None, **options)


def _library(auth: Mapping[str, Any], env: Mapping[str, str]) -> Transport:
    """Kubeconfig credentials only the kubernetes package produces (exec, auth-provider, proxy-url): its
    loader, then kubernetes.core's overrides on the Configuration it filled."""
    from kubernetes import client
    from kubernetes.config.kube_config import KubeConfigLoader

    from lmeval_setup.kube.client import merged_kubeconfig

    kubeconfig, context = auth.get("kubeconfig"), auth.get("context") or None
    configuration = client.Configuration()
    if isinstance(kubeconfig, dict):
        loader = KubeConfigLoader(config_dict=kubeconfig, active_context=context, config_base_path=os.getcwd())
    else:
        paths = kubeconfig_paths(str(kubeconfig or env.get("KUBECONFIG") or "~/.kube/config"))
        merger = merged_kubeconfig(paths)
        loader = KubeConfigLoader(config_dict=merger.config, active_context=context, config_base_path=None,
                                  config_persister=merger.save_changes)
    loader.load_and_set(configuration)
    for key in ("host", "verify_ssl", "ssl_ca_cert", "cert_file", "key_file", "proxy", "no_proxy"):
        if auth.get(key) is not None:
            setattr(configuration, key, auth[key])
    if auth.get("api_key"):
        configuration.api_key = {"authorization": f"Bearer {auth['api_key']}"}
    return LibraryTransport(configuration)


# -- impersonation -----------------------------------------------------------------------------------------
def impersonation_headers(impersonate: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Impersonate-User and one Impersonate-Group header per group (kubernetes.core's _create_headers)."""
    headers: list[tuple[str, str]] = []
    if impersonate.get("impersonate_user"):
        headers.append(("Impersonate-User", str(impersonate["impersonate_user"])))
    for group in impersonate.get("impersonate_groups") or []:
        headers.append(("Impersonate-Group", str(group)))
    return headers


class _HeaderPool:
    """The transport's pool, adding fixed headers to every request (a header may repeat: several groups)."""

    def __init__(self, inner: Any, headers: list[tuple[str, str]]) -> None:
        self._inner = inner
        self._headers = headers

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        from urllib3 import HTTPHeaderDict

        merged = HTTPHeaderDict(dict(headers or {}))
        for name, value in self._headers:
            merged.add(name, value)
        return self._inner.request(method, url, headers=merged, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ImpersonatingTransport:
    """Another transport's credentials, acting as impersonate_user / impersonate_groups."""

    def __init__(self, inner: Transport, headers: list[tuple[str, str]]) -> None:
        self._inner = inner
        self.host = inner.host
        self.pool = _HeaderPool(inner.pool, headers)

    def authorize(self, headers: dict[str, str], path: str, method: str) -> None:
        self._inner.authorize(headers, path, method)

    def close(self, wait: bool = True) -> None:
        self._inner.close(wait)

