"""Options shared by commands: kube flags and output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def kube_options(func: F) -> F:
    """--kubeconfig / --context, honouring KUBECONFIG (and in-cluster config when neither is set)."""
    func = click.option(
        "--context", "context", default=None, envvar="LMEVAL_CONTEXT", help="kubeconfig context to use."
    )(func)
    func = click.option(
        "--kubeconfig", "kubeconfig", default=None, envvar="KUBECONFIG",
        type=click.Path(dir_okay=False), help="Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config).",
    )(func)
    return func


def output_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    return click.option(
        "-o", "--output", "output", type=click.Choice(list(choices)), default=default, show_default=True,
        help="Output format.",
    )


def connect(kubeconfig: str | None, context: str | None) -> Any:
    from lmeval_setup.cli.verbosity import trace_requests
    from lmeval_setup.kube.client import Kube  # lazy import: the client is heavy

    return trace_requests(Kube.connect(kubeconfig, context))


def findings_options(*formats: str) -> Callable[[F], F]:
    """-o, --fail-on, --ignore and --color: the shared contract of every command that reports findings."""

    def decorate(func: F) -> F:
        func = click.option("--color/--no-color", "color", default=None,
                            help="Colour text output (default: on a terminal).")(func)
        func = click.option("--ignore", "ignore", multiple=True, metavar="ID",
                            help="Suppress a rule (ID like LME029 or slug); repeatable, comma-separated allowed.")(func)
        func = click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="error",
                            show_default=True, help="Lowest severity that makes the exit code 1.")(func)
        return output_option(*formats)(func)

    return decorate
