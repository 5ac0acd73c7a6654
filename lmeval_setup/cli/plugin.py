"""`kubectl-lmeval`: the CLI as a kubectl / oc plugin (`kubectl lmeval doctor -n ns`, `oc lmeval lint f.yaml`).

kubectl and oc find an executable named kubectl-<name> on PATH and run it with the remaining arguments
(and kubectl's environment, so KUBECONFIG holds); nothing else is needed. `kubectl_complete-lmeval` is the
completion hook kubectl >= 1.26 calls for plugins: it gets the words after `lmeval`, the last one being
the word being completed, and answers in cobra's __complete format (one value per line, a tab before the
description, then `:<directive>`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

PLUGIN_PROG_NAME = "kubectl lmeval"
# cobra.ShellCompDirective values kubectl understands
DIRECTIVE_DEFAULT = 0  # the shell may fall back to file names
DIRECTIVE_NO_FILE_COMP = 4


def kubectl_plugin(argv: list[str] | None = None) -> Any:
    from lmeval_setup.cli.main import main

    return main(argv, prog_name=PLUGIN_PROG_NAME, complete_var="_KUBECTL_LMEVAL_COMPLETE")


def plugin_completions(words: list[str]) -> tuple[list[str], int]:
    """(cobra lines, directive) for `kubectl lmeval <words>`; the last word is the one being completed."""
    from click.shell_completion import ShellComplete

    from lmeval_setup.cli.main import cli

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    items = ShellComplete(cli, {}, PLUGIN_PROG_NAME, "_KUBECTL_LMEVAL_COMPLETE").get_completions(args, incomplete)
    lines = [f"{item.value}\t{item.help}" if item.help else str(item.value) for item in items
             if item.type == "plain"]
    # Values we know (commands, flags, rule IDs, profiles) exclude file names; otherwise (a path argument,
    # which click answers with a "file"/"dir" item or nothing, e.g. lint's PATH) the shell completes files.
    return lines, DIRECTIVE_NO_FILE_COMP if lines else DIRECTIVE_DEFAULT


def kubectl_plugin_complete(argv: list[str] | None = None) -> None:
    lines, directive = plugin_completions(list(sys.argv[1:] if argv is None else argv))
    for line in lines:
        click.echo(line)
    click.echo(f":{directive}")
