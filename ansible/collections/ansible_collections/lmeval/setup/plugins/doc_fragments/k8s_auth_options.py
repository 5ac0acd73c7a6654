# Copyright: lmeval-setup maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The connection options every lmeval.setup module shares with kubernetes.core.k8s."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description:
      - The API server URL. With O(api_key) (or O(client_cert) and O(client_key)) it is enough on its own
        and no kubeconfig is read; with a kubeconfig it replaces the kubeconfig's server.
      - Default from E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - A bearer token. Default from E(K8S_AUTH_API_KEY). Never printed.
    type: str
  kubeconfig:
    description:
      - A kubeconfig path (several joined with V(:) are merged as kubectl merges them) or the kubeconfig as
        a dict. Without it and without O(context), the pod's service account is used, else E(KUBECONFIG) or
        C(~/.kube/config).
      - Default from E(K8S_AUTH_KUBECONFIG).
    type: raw
  context:
    description:
      - The kubeconfig context. Default from E(K8S_AUTH_CONTEXT).
    type: str
  username:
    description:
      - Accepted as kubernetes.core accepts it, with O(password) and O(host); like the client library since
        v12, no basic authentication is sent. Default from E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - See O(username). Default from E(K8S_AUTH_PASSWORD).
    type: str
  client_cert:
    description:
      - A client certificate file. Default from E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - The client certificate's key file. Default from E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  ca_cert:
    description:
      - The certificate authority that signed the API server's certificate.
        Default from E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Default from E(K8S_AUTH_VERIFY_SSL)
        (false only for V(0), V(false), V(no)).
    type: bool
    aliases: [verify_ssl]
  proxy:
    description:
      - An HTTP(S) or SOCKS proxy URL for the API server. Default from E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated host names (or suffixes, or V(*)) reached without O(proxy).
        Default from E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers for the proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - V(user:password) for the proxy. Default from E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - V(user:password) for basic authentication. Default from E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - The User-Agent header. Default from E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Accepted as kubernetes.core accepts it (refreshed kubeconfig tokens are not written back).
        Default from E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - The user to act as (Impersonate-User). Default from E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - The groups to act as (one Impersonate-Group header each). Default from E(K8S_AUTH_IMPERSONATE_GROUPS),
        comma-separated.
    type: list
    elements: str
notes:
  - Options and environment are resolved as kubernetes.core resolves them; O(host) with O(api_key) wins over
    any kubeconfig, so the modules reach the cluster the role's M(kubernetes.core.k8s) tasks reach.
"""
