"""`lmeval-setup` entry point.

Subcommands are imported only when invoked, so `lmeval-setup --help` never loads the kubernetes
client or ansible (bench/cli_start measures it). Every LmevalError becomes one line on stderr and
its exit code; anything else is an internal error (70), with the traceback only under LMEVAL_DEBUG=1.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from lmeval_setup import __version__
from lmeval_setup.cli.verbosity import NORMAL, add_verbosity, set_level, shown
from lmeval_setup.errors import EXIT_CODE_MEANINGS, ExitCode, LmevalError

# name -> (module:attribute, one-line help shown by --help without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "bootstrap": ("lmeval_setup.cli.bootstrap:bootstrap", "Enable TrustyAI LM-Eval on one or many clusters."),
    "revert": ("lmeval_setup.cli.bootstrap:revert", "Undo what bootstrap changed, exactly."),
    "doctor": ("lmeval_setup.cli.doctor:doctor", "Explain why LM-Eval or an LMEvalJob fails."),
    "lint": ("lmeval_setup.cli.lint:lint", "Check LMEvalJob manifests before they are applied."),
    "provision": ("lmeval_setup.cli.provision:provision", "Run an evaluation for CI, gate on scores."),
    "results": ("lmeval_setup.cli.results:results", "Show and compare results of completed jobs."),
    "scaffold": ("lmeval_setup.cli.scaffold:scaffold", "Write a kustomize component of LMEvalJobs."),
    "sandbox": ("lmeval_setup.cli.sandbox:sandbox", "A local OpenShift AI stand-in on a real apiserver."),
    "rules": ("lmeval_setup.cli.rules:rules", "List the rule catalog (IDs, names, severities, fixes)."),
    "completion": ("lmeval_setup.cli.completion:completion", "Print the bash, zsh or fish completion script."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return add_verbosity(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{int(code)} {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items())


@click.group(cls=LazyGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmeval-setup")
def cli() -> None:
    """Make TrustyAI LM-Eval work on OpenShift AI, and find out why evaluation jobs fail."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt: a BaseException, so no
    `except Exception` turns it into a failure report, and kube.readpool abandons its workers for it."""


# Commands that keep SIGTERM's default action: the sandbox's teardown (sandbox/reaper.py) takes SIGTERM over
# only while it is the default, and ends the process as killed by it once its control planes are stopped.
_OWN_SIGTERM = frozenset({"sandbox"})


@contextmanager
def _sigterm_raises(argv: list[str] | None) -> Iterator[None]:
    """For the length of one command, SIGTERM raises Terminated (exit 143 with one line, after every
    `finally` and `with` on the way out) instead of killing the process silently; the previous handler
    is put back afterwards (tests call main() many times in one process)."""
    args = sys.argv[1:] if argv is None else argv
    command = next((a for a in args if not a.startswith("-")), None)
    if (command in _OWN_SIGTERM or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminated(_signum: int, _frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None, prog_name: str = "lmeval-setup", complete_var: str | None = None) -> Any:
    """`prog_name`/`complete_var` differ only for the kubectl plugin (lmeval_setup.cli.plugin)."""
    try:
        return _run(argv, prog_name, complete_var)
    finally:
        if argv is None:  # the process ends with this call (tests pass argv, and call main() many times)
            _spare_the_exit_collection()


def _spare_the_exit_collection() -> None:
    """Leave the objects of this run to the operating system instead of the interpreter's last garbage
    collection, which traverses every object the run made (the imports' too): ~15-20 ms of a cold `doctor`'s
    CPU, as much as its TLS handshakes and requests. Only that collection is skipped: atexit handlers
    (weakref.finalize, tempfile's cleanup), non-daemon thread joins and stream flushes still run; what it
    would add is __del__ of objects in reference cycles, and the process holds nothing (files, sockets,
    child processes) that the end of the process does not release."""
    gc.freeze()


def _run(argv: list[str] | None, prog_name: str, complete_var: str | None) -> Any:
    set_level(NORMAL)  # -q/-v apply to one invocation (tests call main() many times in one process)
    try:
        with _sigterm_raises(argv):
            return cli.main(args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort: still 128 + SIGINT
            _exit_interrupted()
        click.echo("aborted", err=True)
        sys.exit(ExitCode.USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except LmevalError as exc:
        click.echo(f"error: {shown(exc.one_line())}", err=True)  # a file name may hold an escape sequence
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        _exit_interrupted()
    except Terminated:
        click.echo("terminated", err=True)
        sys.exit(ExitCode.TERMINATED)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in CLUSTER_EXTRA_MODULES:
            _internal_error(exc)
        # A light install (pip install lmeval-setup, as the pre-commit hook does) has what lint needs only.
        click.echo(f"error: this command needs the cluster dependencies ({exc.name} is not installed) "
                   "(pip install 'lmeval-setup[cluster]')", err=True)
        sys.exit(ExitCode.PREREQUISITE)
    except Exception as exc:  # the last line of defence: one line, never a traceback by default
        _internal_error(exc)


def _exit_interrupted() -> NoReturn:
    """Ctrl-C: one line and 128 + SIGINT. Under `python -m`, CPython kills the process with SIGINT at exit
    (returncode -2, whatever sys.exit said) when a flag, _Py_UnhandledKeyboardInterrupt, is set: exec or
    eval of a string sets it when a KeyboardInterrupt passes through the code it runs (dataclasses and
    namedtuple create methods that way at import), and `-m` never clears it for an interrupt that was
    caught. A Ctrl-C during the doctor's imports exited -2 in 3 runs of 60. Running a string clears it:
    run_eval_code_obj resets the flag before it runs the code, and `pass` raises nothing."""
    exec("pass")
    click.echo("interrupted", err=True)
    sys.exit(ExitCode.INTERRUPTED)


# What the `cluster` extra installs (pyproject.toml): missing on a light install.
CLUSTER_EXTRA_MODULES = frozenset({"kubernetes", "ansible", "ansible_runner", "jsonpatch", "cryptography", "urllib3"})


def _internal_error(exc: BaseException) -> NoReturn:
    if os.environ.get("LMEVAL_DEBUG"):
        import traceback  # only here: it costs a cold start ~10 ms (linecache, tokenize)

        traceback.print_exc()
    click.echo(f"internal error: {type(exc).__name__}: {exc} (set LMEVAL_DEBUG=1 for details)", err=True)
    sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":
    main()
