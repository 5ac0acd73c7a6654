"""Kubeconfig and in-cluster credentials without the kubernetes package.

A CLI that lists a few collections pays ~150 ms (more on a loaded machine) just importing the official
client, which is most of a cold `doctor -n NS`. What it needs from it is small: merge KUBECONFIG's
files as kubectl does, pick the context, and turn cluster + user into a TLS context and an
Authorization header. That is done here with the standard library, lmeval_setup.blockyaml for the plain
YAML kubectl and oc write, PyYAML for any other (through safeio, so a hostile file is refused) and
urllib3. Credentials that need code to run (an `exec` plugin, an `auth-provider`) or a `proxy-url` are
left to the kubernetes package: `Endpoint.needs_library` says so and the client falls back to it for
that one kubeconfig.

Error messages keep the wording of the kubernetes package's loader ("Invalid kube-config file. Expected
key current-context in kube-config"), which users and tests already know.
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from lmeval_setup import safeio
from lmeval_setup.blockyaml import load_block_mapping
from lmeval_setup.errors import BAD_KUBECONFIG, WRONG_CONTEXT

JSON = dict[str, Any]
MAX_KUBECONFIG_BYTES = 16 * safeio.MiB
# The service account files every pod gets (what client-go's rest.InClusterConfig reads).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Entries of a user that only the kubernetes package can turn into credentials (they run code or proxy).
# Basic auth (username/password) is left to it too: no apiserver has accepted it since Kubernetes 1.19.
LIBRARY_USER_KEYS = ("exec", "auth-provider", "username")
LIBRARY_CLUSTER_KEYS = ("proxy-url",)


class KubeconfigError(Exception):
    """A kubeconfig that cannot be used; the message is one line. `reason` says which kind, as data: the
    client's ClusterError carries it on to the Ansible modules' failure reason (exit 3 either way)."""

    reason = BAD_KUBECONFIG


class KubeconfigNotYaml(KubeconfigError):
    """The file is not YAML: the message names the problem and its line."""


class ContextError(KubeconfigError):
    """The context to use is not there: none named and no current-context, a name no file defines, or an
    entry without its context or cluster (kubectl: `context "x" does not exist`)."""

    reason = WRONG_CONTEXT


@dataclass(frozen=True)
class Entry:
    """A named cluster, user or context, with the directory of the file it came from (relative paths in it
    resolve against that directory, as kubectl resolves them)."""

    value: JSON
    base: str


@dataclass
class Merged:
    """KUBECONFIG's files merged: the first file that defines a name wins, so does the first current-context."""

    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    _: KW_ONLY
    contexts: dict[str, Entry] = field(default_factory=dict)
    current_context: str | None = None
    sections: set[str] = field(default_factory=set)  # which of clusters/users/contexts any file had


@dataclass
class Endpoint:
    """Where the apiserver is and how to prove who we are, ready for a plain HTTPS client."""

    server: str
    ca_file: str | None = None
    _: KW_ONLY
    ca_data: str | None = None  # PEM
    insecure: bool = False
    tls_server_name: str | None = None
    token: str | None = None
    token_file: str | None = None  # re-read when it changes (projected service account tokens rotate)
    cert_file: str | None = None
    cert_data: bytes | None = None
    key_file: str | None = None
    key_data: bytes | None = None
    needs_library: bool = False


# -- reading and merging ------------------------------------------------------------------------------
def read_file(path: str) -> JSON | None:
    """One kubeconfig file as a mapping; None when it is empty. Refuses FIFOs, devices and alias bombs."""
    try:
        raw = safeio.read_bytes(path, limit=MAX_KUBECONFIG_BYTES)
    except safeio.UnreadableInput as exc:
        raise KubeconfigError(exc.why) from None
    try:
        text = safeio.decode(path, raw)
        # What kubectl and oc write is read without importing PyYAML (~6-9 ms of a cold doctor); anything else
        # is PyYAML's, through safeio (blockyaml reads what it accepts exactly as safeio would).
        document = load_block_mapping(text)
        if document is None:
            document = safeio.load_yaml(text, path)
    except safeio.MalformedYaml as exc:
        where = f" (line {exc.line}, column {exc.column})" if exc.line else ""
        raise KubeconfigNotYaml(exc.why.removeprefix("YAML syntax error: ") + where) from None
    except safeio.UnreadableInput as exc:
        raise KubeconfigError(exc.why) from None
    if document is None:
        return None
    if not isinstance(document, dict):
        raise KubeconfigError(f"Invalid kube-config file. Expected a mapping, found {type(document).__name__}")
    return document


def merge(paths: list[str], reader: Callable[[str], JSON | None] = read_file) -> Merged | None:
    """The files merged as kubectl merges KUBECONFIG (missing files skipped); None when none has content."""
    merged = Merged()
    found = False
    for path in paths:
        if not os.path.exists(path):
            continue
        document = reader(path)
        if not document:
            continue
        found = True
        base = os.path.dirname(os.path.abspath(path))
        if not merged.current_context and document.get("current-context"):
            merged.current_context = str(document["current-context"])
        for section in ("clusters", "users", "contexts"):
            items = document.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                raise KubeconfigError(f"Invalid kube-config file. Expected {section} to be a list")
            merged.sections.add(section)
            target: dict[str, Entry] = getattr(merged, section)
            for item in items:
                if not isinstance(item, dict) or "name" not in item:
                    raise KubeconfigError(f"Invalid kube-config file. Expected all values in kube-config/"
                                          f"{section} list to have 'name' key")
                target.setdefault(str(item["name"]), Entry(item, base))
    return merged if found else None


def _named(merged: Merged, section: str, name: str) -> Entry:
    error = ContextError if section == "contexts" else KubeconfigError
    if section not in merged.sections:
        raise error(f"Invalid kube-config file. Expected key {section} in kube-config")
    entry = getattr(merged, section).get(name)
    if entry is None:
        raise error(f"Invalid kube-config file. Expected object with name {name} in kube-config/{section} list")
    return entry


def context_entry(merged: Merged, context: str | None) -> tuple[str, JSON]:
    """(name, the context's {"cluster", "user", "namespace"}) kubectl would use."""
    name = context or merged.current_context
    if not name:
        raise ContextError("Invalid kube-config file. Expected key current-context in kube-config")
    body = _named(merged, "contexts", name).value.get("context")
    if not isinstance(body, dict):
        raise ContextError(f"Invalid kube-config file. Expected key context in kube-config/contexts[name={name}]")
    return name, body


# -- turning an entry into credentials -----------------------------------------------------------------
def file_endpoint(paths: list[str], context: str | None) -> Endpoint:
    """The endpoint of `context` in the kubeconfig files `paths`, merged as kubectl merges them."""
    merged = merge(paths)
    if merged is None:
        raise KubeconfigError("Invalid kube-config file. No configuration found.")
    return endpoint(merged, context)


def endpoint(merged: Merged, context: str | None) -> Endpoint:
    """The endpoint and credentials of `context` (default: current-context)."""
    name, ctx = context_entry(merged, context)
    if not ctx.get("cluster"):
        raise ContextError(f"Invalid kube-config file. Expected key cluster in kube-config/contexts[name={name}]"
                              "/context")
    cluster_entry = _named(merged, "clusters", str(ctx["cluster"]))
    cluster = cluster_entry.value.get("cluster")
    if not isinstance(cluster, dict) or not cluster.get("server"):
        raise KubeconfigError(f"Invalid kube-config file. Expected key server in kube-config/clusters"
                              f"[name={ctx['cluster']}]/cluster")
    user: JSON = {}
    user_base = cluster_entry.base
    if ctx.get("user") and ctx["user"] in merged.users:
        user_entry = merged.users[str(ctx["user"])]
        user, user_base = user_entry.value.get("user") or {}, user_entry.base
    found = Endpoint(server=str(cluster["server"]).rstrip("/"))
    _cluster_fields(found, cluster, cluster_entry.base)
    _user_fields(found, user, user_base)
    found.needs_library = (any(k in cluster for k in LIBRARY_CLUSTER_KEYS)
                           or (not (found.token or found.token_file) and any(k in user for k in LIBRARY_USER_KEYS)))
    return found


def _path(base: str, value: Any) -> str:
    return os.path.join(base, os.path.expanduser(str(value)))


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=False)
    except ValueError:
        raise KubeconfigError(f"{what} is not base64") from None


def _cluster_fields(found: Endpoint, cluster: JSON, base: str) -> None:
    if cluster.get("certificate-authority-data"):
        found.ca_data = _b64(cluster["certificate-authority-data"], "certificate-authority-data").decode(
            "ascii", errors="replace")
    elif cluster.get("certificate-authority"):
        found.ca_file = _path(base, cluster["certificate-authority"])
    found.insecure = bool(cluster.get("insecure-skip-tls-verify"))
    found.tls_server_name = cluster.get("tls-server-name") or None


def _user_fields(found: Endpoint, user: JSON, user_base: str) -> None:
    # Relative paths resolve against the user's own file, as kubectl resolves them (the package's loader
    # takes the cluster's file for certificates; they differ only when the two come from different files).
    if user.get("token"):
        found.token = str(user["token"])
    elif user.get("tokenFile"):
        found.token_file = _path(user_base, user["tokenFile"])
    if user.get("client-certificate-data"):
        found.cert_data = _b64(user["client-certificate-data"], "client-certificate-data")
    elif user.get("client-certificate"):
        found.cert_file = _path(user_base, user["client-certificate"])
    if user.get("client-key-data"):
        found.key_data = _b64(user["client-key-data"], "client-key-data")
    elif user.get("client-key"):
        found.key_file = _path(user_base, user["client-key"])


def in_cluster() -> Endpoint:
    """The pod's service account, as client-go's in-cluster config reads it."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError("Service host/port is not set.")
    token_file = os.path.join(SERVICE_ACCOUNT_DIR, "token")
    if not os.path.isfile(token_file):
        raise KubeconfigError("Service token file does not exist.")
    host = f"[{host}]" if ":" in host else host
    ca = os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")
    return Endpoint(server=f"https://{host}:{port}", token_file=token_file, ca_file=ca if os.path.isfile(ca) else None)


# -- TLS ---------------------------------------------------------------------------------------------
def ssl_context(found: Endpoint) -> ssl.SSLContext:
    """Server verification (the kubeconfig's CA, else the system's) and the client certificate, if any."""
    if found.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cafile=found.ca_file, cadata=found.ca_data)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise KubeconfigError(f"certificate authority not usable: {_tls_reason(exc)}") from None
    if found.cert_file or found.cert_data:
        _load_client_certificate(context, found)
    return context


def _load_client_certificate(context: ssl.SSLContext, found: Endpoint) -> None:
    """ssl only loads a certificate and key from files: inline data goes through anonymous memory files
    (memfd) so the key never touches a disk (elsewhere: a private file removed once ssl has read it)."""
    cleanups: list[Callable[[], None]] = []
    try:
        cert = found.cert_file or _memory_file(found.cert_data or b"", cleanups)
        key = found.key_file or (_memory_file(found.key_data, cleanups) if found.key_data else None)
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise KubeconfigError(f"client certificate not usable: {_tls_reason(exc)}") from None
    finally:
        for cleanup in cleanups:
            cleanup()


def _memory_file(data: bytes, cleanups: list[Callable[[], None]]) -> str:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kubeconfig-credential")
        cleanups.append(lambda: os.close(fd))
        os.write(fd, data)
        return f"/proc/self/fd/{fd}"
    import tempfile

    fd, name = tempfile.mkstemp(prefix="lmeval-kube-")  # mode 0600
    cleanups.append(lambda: os.unlink(name))
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return name


def _tls_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
    return str(text).splitlines()[0] if str(text).strip() else type(exc).__name__
