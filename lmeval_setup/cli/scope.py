"""-n/--namespace and -A/--all-namespaces, the same on doctor, results and provision (kubectl habits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def namespace_options(what: str, *, all_help: str | None = None) -> Callable[[F], F]:
    """-n/--namespace (default: the kubeconfig context's, like kubectl) and -A/--all-namespaces, worded
    the same on doctor, results and provision."""

    def decorate(func: F) -> F:
        func = click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True,
                            help=all_help or f"{what} in every namespace.")(func)
        return click.option("-n", "--namespace", "namespace", default=None, metavar="NAMESPACE",
                            help=f"{what} in this namespace [default: the context's, else default].")(func)

    return decorate


def resolve_namespace(namespace: str | None, all_namespaces: bool, kubeconfig: str | None,
                      context: str | None) -> str | None:
    """The namespace to use: None for -A; -n as given; else the kubeconfig context's, like kubectl."""
    from lmeval_setup.errors import UsageError

    if namespace and all_namespaces:
        raise UsageError("-n/--namespace and -A/--all-namespaces exclude each other")
    if all_namespaces:
        return None
    return namespace or default_namespace(kubeconfig, context)


def default_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The kubeconfig context's namespace, as kubectl does (several KUBECONFIG files merged as kubectl
    merges them); `default` when it names none or there is no kubeconfig (in-cluster)."""
    from lmeval_setup.kube.client import kubeconfig_context

    return str((kubeconfig_context(kubeconfig, context) or {}).get("namespace") or "default")

