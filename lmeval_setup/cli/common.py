"""Options shared by commands: kube flags and output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


REQUEST_TIMEOUT_KEY = "lmeval.request_timeout"


def _remember_request_timeout(ctx: click.Context, _: click.Parameter, value: str | None) -> float | None:
    from lmeval_setup.errors import UsageError
    from lmeval_setup.kube.client import parse_duration

    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(exc.one_line()) from None
    ctx.meta[REQUEST_TIMEOUT_KEY] = seconds
    return seconds


def request_timeout() -> float | None:
    """The --request-timeout of the running command, in seconds (0: none); None when not given."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(REQUEST_TIMEOUT_KEY) if ctx is not None else None


def kube_options(func: F) -> F:
    """--kubeconfig / --context, honouring KUBECONFIG (and in-cluster config when neither is set), and
    kubectl's --request-timeout (kept in the click context: connect() applies it to every request)."""
    func = click.option(
        "--request-timeout", "request_timeout", default=None, expose_value=False, metavar="DURATION",
        callback=_remember_request_timeout,
        help="How long one API request may take, like kubectl: 30s, 2m, 500ms; 0 for no limit [default: 30s].",
    )(func)
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
    """The cluster, resolved as the lmeval.setup modules resolve it: K8S_AUTH_* (AWX's credentials) with
    --kubeconfig/--context as the task's options; with no K8S_AUTH_* variable, kubectl's rules."""
    from lmeval_setup.bootstrap.k8s_auth import connect_cli  # lazy import: the client is heavy
    from lmeval_setup.cli.verbosity import trace_requests

    return trace_requests(connect_cli(kubeconfig, context, request_timeout()))


def findings_options(*formats: str) -> Callable[[F], F]:
    """-o, --fail-on, --ignore and --color: the shared contract of every command that reports findings."""

    def decorate(func: F) -> F:
        func = click.option("--color/--no-color", "color", default=None,
                            help="Colour text output (default: on a terminal).")(func)
        from lmeval_setup.cli.completion import complete_rule_ids

        func = click.option("--ignore", "ignore", multiple=True, metavar="ID", shell_complete=complete_rule_ids,
                            help="Suppress a rule (ID like LME029 or slug); repeatable, comma-separated allowed.")(func)
        func = click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="error",
                            show_default=True, help="Lowest severity that makes the exit code 1.")(func)
        return output_option(*formats)(func)

    return decorate
