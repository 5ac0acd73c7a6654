# Copyright: lmeval-setup maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The connection options of kubernetes.core.k8s, resolved from the task and the K8S_AUTH_* environment.

Every lmeval.setup module takes the options kubernetes.core's modules take, with the same names,
aliases and environment variables, and each option comes from where kubernetes.core 6.x takes it
(plugins/module_utils/k8s/client.py, _create_auth_spec and _create_headers): the task's value, else
K8S_AUTH_<OPTION>, else K8S_AUTH_<client library name> (K8S_AUTH_VERIFY_SSL, K8S_AUTH_SSL_CA_CERT,
K8S_AUTH_CERT_FILE, K8S_AUTH_KEY_FILE); a boolean from the environment is false only for 0, false and
no. So in AWX, where a credential injects K8S_AUTH_HOST / K8S_AUTH_API_KEY / K8S_AUTH_VERIFY_SSL, the
role's kubernetes.core.k8s tasks and these modules talk to the same cluster as the same identity.
lmeval_setup.bootstrap.k8s_auth does the resolving (resolve_auth below delegates to it, and the CLI's own
commands call it too) and turns the result into a connection (which base wins, what overrides it).

The specs below are kubernetes.core's interface (its args_common.AUTH_ARG_SPEC / AUTH_ARG_MAP);
tests/unit/test_k8s_auth.py fails when they drift from the installed kubernetes.core.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

AUTH_PROXY_HEADERS_SPEC = {
    "proxy_basic_auth": {"type": "str", "no_log": True},
    "basic_auth": {"type": "str", "no_log": True},
    "user_agent": {"type": "str"},
}

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {},
    "host": {},
    "api_key": {"no_log": True},
    "username": {},
    "password": {"no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": AUTH_PROXY_HEADERS_SPEC},
    "persist_config": {"type": "bool"},
    "impersonate_user": {},
    "impersonate_groups": {"type": "list", "elements": "str"},
}

# client library name -> option name
AUTH_ARG_MAP = {
    "kubeconfig": "kubeconfig",
    "context": "context",
    "host": "host",
    "api_key": "api_key",
    "username": "username",
    "password": "password",
    "verify_ssl": "validate_certs",
    "ssl_ca_cert": "ca_cert",
    "cert_file": "client_cert",
    "key_file": "client_key",
    "proxy": "proxy",
    "no_proxy": "no_proxy",
    "proxy_headers": "proxy_headers",
    "persist_config": "persist_config",
}

# Keys of a kubeconfig whose values are no secret: names, where the cluster is and how it is verified, file
# paths. Every other value of an inline kubeconfig (token, client-key-data, password, auth-provider config,
# exec command, arguments and env values, proxy-url, extensions, ...) stays masked.
PUBLIC_KUBECONFIG_KEYS = frozenset((
    "apiVersion", "kind", "current-context", "name", "cluster", "user", "namespace", "server",
    "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name",
    "client-certificate", "client-certificate-data", "client-key", "tokenFile", "username",
))


def connection_spec():
    """A fresh copy of the connection options, for a module's argument_spec."""
    return {name: dict(spec) for name, spec in AUTH_ARG_SPEC.items()}


def resolve_auth(params, environ=None):
    """{client name: value} for every option given by the task or the environment. The resolution itself is
    lmeval_setup's (lmeval_setup.bootstrap.k8s_auth.resolve_auth), which the CLI's own commands use too, so the
    modules and the CLI read the same options from the same places; only called once lmeval_setup is known to
    be importable (require_lmeval_setup)."""
    from lmeval_setup.bootstrap.k8s_auth import resolve_auth as resolve

    return resolve(params, environ)


def resolve_impersonation(params, environ=None):
    """{"impersonate_user": ..., "impersonate_groups": [...]} from the task, else K8S_AUTH_IMPERSONATE_*."""
    from lmeval_setup.bootstrap.k8s_auth import resolve_impersonation as resolve

    return resolve(params, environ)


def secrets_of(auth):
    """Values that must never be printed: Ansible masks no_log options, not what came from the environment."""
    from lmeval_setup.bootstrap.k8s_auth import secrets_of as secrets

    return secrets(auth)


def _leaves(value, key=None):
    """(key, text) for every leaf of an option's value, as Ansible lists a no_log value (strings, numbers)."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _leaves(item, name)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item, key)
    elif isinstance(value, bool) or value is None or value == "":
        return
    else:
        yield key, str(value)


def mask_only_kubeconfig_secrets(module):
    """kubernetes.core's spec marks `kubeconfig` no_log (it may be an inline dict with credentials), so Ansible
    masks all of its value wherever it appears: the path in the very error that must name it ("No configuration
    found at ********"), and of a dict every name and URL (a context named `default` masked "default" in all
    output). The spec stays kubernetes.core's; this narrows the masking to the secrets: a path is none, and of
    a dict only the values under PUBLIC_KUBECONFIG_KEYS go. The option's value is logged as not logged at module
    start either way (no_log), and a value another no_log option or the dict's secret part holds stays masked."""
    value = module.params.get("kubeconfig")
    if not value:
        return
    if isinstance(value, dict):
        leaves = list(_leaves(value))
        public = {text for key, text in leaves if key in PUBLIC_KUBECONFIG_KEYS}
        secret = {text for key, text in leaves if key not in PUBLIC_KUBECONFIG_KEYS}
    else:
        public, secret = {str(value)}, set()
    for name, spec in module.argument_spec.items():
        if spec.get("no_log") and name != "kubeconfig":
            secret.update(text for _key, text in _leaves(module.params.get(name)))
    for text in public - secret:
        module.no_log_values.discard(text)


def require_lmeval_setup(module):
    """Fail the task the way Ansible modules fail for a missing library when the interpreter running the module
    (ansible_python_interpreter) has no lmeval_setup; the modules import it only after this check."""
    try:
        import lmeval_setup  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        module.fail_json(msg=missing_required_lib("lmeval-setup", reason="the lmeval.setup modules"),
                         exception=traceback.format_exc(), reason="prerequisite")


def connect(module):
    """The lmeval_setup Kube for this task's connection (kubernetes.core's options and environment)."""
    from lmeval_setup.bootstrap.k8s_auth import connect_with_auth

    mask_only_kubeconfig_secrets(module)
    auth = resolve_auth(module.params)
    for secret in secrets_of(auth):
        module.no_log_values.add(secret)
    return connect_with_auth(auth, resolve_impersonation(module.params))
