"""-q/--quiet and -v/--verbose, on every command (kubectl habits), and the stderr helpers that obey them.

The rule is the same everywhere: stdout (the report, in any -o format) never changes.
  -q  stderr carries errors only: no notes, warnings-about-the-run, progress or status lines.
  -v  stderr also carries every API request the command makes through cli.common.connect (method, path,
      outcome, milliseconds); sandbox traces its own requests the same way, scaffold makes none.
      bootstrap/revert make theirs inside Ansible: -v, -vv, -vvv are ansible-playbook's verbosity, and
      the tasks' output goes to stderr through the one redactor (bootstrap.runner).
main.LazyGroup adds both options to every command, so no command can forget them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

# -v adds one level per letter: -vv is VERBOSE + 1, -vvv VERBOSE + 2.
QUIET, NORMAL, VERBOSE = 0, 1, 2
_state = {"level": NORMAL}


def level() -> int:
    return _state["level"]


def set_level(value: int) -> None:
    _state["level"] = value


def quiet() -> bool:
    return level() == QUIET


def verbose() -> bool:
    return level() >= VERBOSE


def verbosity() -> int:
    """How many -v were given (0 without, and under -q): Ansible's -v count for bootstrap and revert."""
    return max(0, level() - NORMAL)


def note(text: str) -> None:
    """A line for people on stderr (notes, status, progress); dropped under -q. Errors use click.echo."""
    if not quiet():
        click.echo(shown(text), err=True)


def status_printer() -> Callable[[str], None]:
    """For code that takes an `err` callback: error lines always pass, the rest only without -q."""

    def show(text: str) -> None:
        if not quiet() or text.startswith("error"):
            click.echo(shown(text), err=True)

    return show


def shown(text: str) -> str:
    """A line for stderr (a note, an error) may name a file or quote the cluster: its control characters are
    escaped (redact.printable), the redactor imported only then (its patterns cost milliseconds of every start)."""
    if text.isprintable() or all(c.isprintable() or c in "\t\n" for c in text):
        return text
    from lmeval_setup.redact import printable

    return printable(text)


def _on_quiet(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    ctx.meta[_QUIET_SEEN] = value
    _set_level_of_this_invocation(ctx)


def _on_verbose(ctx: click.Context, _: click.Parameter, value: int) -> None:
    ctx.meta[_VERBOSE_SEEN] = value
    _set_level_of_this_invocation(ctx)


_QUIET_SEEN, _VERBOSE_SEEN = "lmeval_setup.quiet", "lmeval_setup.verbose"


def _set_level_of_this_invocation(ctx: click.Context) -> None:
    """Once both options are parsed (click calls both callbacks on every invocation, given or not), the level
    is theirs alone for this invocation: an earlier one in the same process (CliRunner, the command used as a
    library) that said -q must not leave this one quiet. Only main() used to reset it."""
    if _QUIET_SEEN not in ctx.meta or _VERBOSE_SEEN not in ctx.meta:
        return
    quiet_given, verbose_count = ctx.meta[_QUIET_SEEN], ctx.meta[_VERBOSE_SEEN]
    if quiet_given and verbose_count:
        raise click.UsageError("-q/--quiet and -v/--verbose exclude each other")
    set_level(QUIET if quiet_given else NORMAL + verbose_count)
    # ...and ends with it, for code run after it in the same process that parses no -q/-v of its own.
    ctx.call_on_close(lambda: set_level(NORMAL))


def verbosity_params() -> list[click.Option]:
    # is_eager: set before other callbacks and before the command body runs.
    return [
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, is_eager=True, callback=_on_quiet,
                     help="Errors only on stderr (no notes, progress or status); stdout unchanged."),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, is_eager=True, callback=_on_verbose,
                     help="Also log every API request on stderr (bootstrap, revert: Ansible's verbosity, "
                          "-vv and -vvv for more); stdout unchanged."),
    ]


def add_verbosity(command: click.Command) -> click.Command:
    """Give a command (and every subcommand of a group) -q/-v, once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_verbosity(sub)
        return command
    names = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if "--quiet" not in names:
        command.params.extend(verbosity_params())
    return command


def trace_requests(kube: Any) -> Any:
    """Under -v, log each request of this Kube on stderr (never headers or bodies: they may hold secrets)."""
    if not verbose():
        return kube
    inner = kube.request

    def request(method: str, path: str, **kw: Any) -> Any:
        started = time.monotonic()
        outcome = "ok"
        try:
            return inner(method, path, **kw)
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            elapsed = (time.monotonic() - started) * 1000
            click.echo(f"api: {method} {path} {outcome} {elapsed:.0f}ms", err=True)

    kube.request = request
    return kube
