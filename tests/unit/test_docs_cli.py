"""The README's command reference matches --help (issue 20): the generated reference is current, and every
flag the hand-written usage examples mention exists on that command."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import click

REPO = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", REPO / "tools" / "gen_cli_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_command_reference_is_generated_from_click() -> None:
    gen = generator()
    readme = (REPO / "README.md").read_text()
    assert gen.updated_readme(readme) == readme, "run: python tools/gen_cli_reference.py"


def usage_lines(text: str) -> list[str]:
    """`lmeval-setup ...` invocations in the README's bash blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            # Split shell lists and pipes (`; kubectl ...`, `| jq`), not a usage alternative (`[-n NS | -A]`).
            for part in re.split(r";\s|\s\|\s(?!-)|&&|\$\(|\)\"", line.split("#")[0]):
                if part.strip().startswith("lmeval-setup "):
                    out.append(part.strip())
    return out


def documented_flags(line: str) -> tuple[list[str], list[str]]:
    """(command words, flags) of one usage line; `[-n NS | -A]`, `--a|--b`, `--x=V` all understood."""
    tokens = shlex.split(re.sub(r"[\[\]]", " ", line.replace("...", " ")), posix=True)[1:]
    words: list[str] = []
    while tokens and not tokens[0].startswith("-") and tokens[0].isidentifier():
        words.append(tokens.pop(0))
    flags = [f.split("=")[0] for t in tokens for f in t.split("|") if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", f)]
    return words, flags


def test_every_flag_in_the_readme_usage_examples_exists() -> None:
    gen = generator()
    commands = gen.leaf_commands()
    lines = usage_lines((REPO / "README.md").read_text())
    assert len(lines) >= 10, lines
    problems = []
    for line in lines:
        words, flags = documented_flags(line)
        name = " ".join(words[:2]) if " ".join(words[:2]) in commands else (words[0] if words else "")
        command = commands.get(name)
        if command is None:
            problems.append(f"{line!r}: no command {name!r}")
            continue
        known = {o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
        known |= {"-h", "--help"}
        problems += [f"{name}: {flag} is documented but not a flag" for flag in flags if flag not in known]
        problems += output_choice_problems(name, line, command)
    assert not problems, "\n".join(problems)


def output_choice_problems(name: str, line: str, command: click.Command) -> list[str]:
    """`-o a|b|c` in an example lists exactly the formats --help offers."""
    match = re.search(r"-o ([a-z]+(?:\|[a-z]+)+)", line)
    output = next((p for p in command.params if "--output" in getattr(p, "opts", [])), None)
    if match is None or output is None:
        return []
    documented, offered = match.group(1).split("|"), list(output.type.choices)  # type: ignore[attr-defined]
    return [] if sorted(documented) == sorted(offered) else [f"{name}: -o {documented} but --help offers {offered}"]
