"""Shell completion: `lmeval-setup completion bash|zsh|fish` and the values click completes.

Click's own completion machinery does the work (the `_LMEVAL_SETUP_COMPLETE` protocol); this module
adds what click cannot know: rule IDs and slugs for --ignore/--rule, the sandbox's profile and scenario
names. Each callback imports its table lazily, so completing a command name stays as fast as --help.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # click.shell_completion is loaded when completing, not by every command that offers it
    from click.shell_completion import CompletionItem

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_LMEVAL_SETUP_COMPLETE"


def _matching(candidates: Iterable[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    """Candidates (value, help) starting with what was typed, case-insensitively (rule IDs are upper case,
    slugs lower case; both are accepted in any case)."""
    from click.shell_completion import CompletionItem

    typed = incomplete.lower()
    return [CompletionItem(value, help=help_text) for value, help_text in candidates
            if value.lower().startswith(typed)]


def complete_rule_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Rule IDs (then slugs) for --ignore/--rule; after a comma, the next ID of a comma-separated list."""
    from lmeval_setup.rules.catalog import RULES

    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    candidates = [(f"{prefix}{r.id}", r.title) for r in RULES.values()]
    candidates += [(f"{prefix}{r.slug}", r.title) for r in RULES.values()]
    return _matching(candidates, f"{prefix}{last}")


def complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from lmeval_setup.platform.releases import PROFILES

    return _matching(((name, str(getattr(p, "release", ""))) for name, p in PROFILES.items()), incomplete)


def complete_scenarios(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from lmeval_setup.sandbox.scenarios import SCENARIOS

    return _matching(((name, s.description) for name, s in SCENARIOS.items()), incomplete)


def completion_script(shell: str, prog_name: str = "lmeval-setup") -> str:
    """The script that, sourced by `shell`, completes `prog_name` through click."""
    from click.shell_completion import get_completion_class

    from lmeval_setup.cli.main import cli

    cls = get_completion_class(shell)
    assert cls is not None, shell  # SHELLS are the ones click ships
    return cls(cli, {}, prog_name, COMPLETE_VAR).source()


EPILOG = """\b
Install (once per user):
  bash: lmeval-setup completion bash > ~/.local/share/bash-completion/completions/lmeval-setup
  zsh:  lmeval-setup completion zsh > "${fpath[1]}/_lmeval-setup"
  fish: lmeval-setup completion fish > ~/.config/fish/completions/lmeval-setup.fish
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script (commands, flags, rule IDs, profiles, scenarios)."""
    click.echo(completion_script(shell), nl=False)
