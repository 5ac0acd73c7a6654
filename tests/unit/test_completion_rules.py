"""Shell completion (issue 13 item 5) through click's real protocol, and `lmeval-setup rules`.

Completion is exercised as the shell does it: the CLI run with _LMEVAL_SETUP_COMPLETE and COMP_WORDS set,
its stdout parsed as the bash script parses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from lmeval_setup.platform.releases import PROFILES
from lmeval_setup.rules.catalog import RULES
from lmeval_setup.sandbox.scenarios import SCENARIOS
from tests.schemasupport import validate

CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


def complete(words: str) -> list[str]:
    """What bash would offer for the last word of `words` (an empty last word when it ends in a space)."""
    parts = words.split(" ")
    proc = run(env={"_LMEVAL_SETUP_COMPLETE": "bash_complete", "COMP_WORDS": words,
                    "COMP_CWORD": str(len(parts) - 1)})
    assert proc.returncode == 0, proc.stderr
    # bash_complete prints "type,value" per line
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line.startswith("plain,")]


@pytest.mark.parametrize("command", ["lint", "doctor", "provision"])
def test_ignore_completes_rule_ids_on_every_command_that_has_it(command: str) -> None:
    assert complete(f"lmeval-setup {command} --ignore LME00") == [f"LME00{i}" for i in range(1, 10)
                                                                  if f"LME00{i}" in RULES]


def test_rule_completes_slugs_and_the_next_id_after_a_comma() -> None:
    assert complete("lmeval-setup lint --rule offline-a") == ["offline-access"]
    offered = complete("lmeval-setup doctor --ignore LME001,LME10")
    assert offered and all(v.startswith("LME001,LME10") for v in offered)
    assert {v.split(",")[1] for v in offered} == {r for r in RULES if r.startswith("LME10")}


def test_sandbox_profile_and_scenario_complete_from_their_tables() -> None:
    assert complete("lmeval-setup sandbox up --profile ") == list(PROFILES)
    assert complete("lmeval-setup sandbox up --scenario ") == list(SCENARIOS)
    assert complete("lmeval-setup sandbox up --profile odh") == [p for p in PROFILES if p.startswith("odh")]


def test_command_names_complete_including_rules_and_completion() -> None:
    assert {"rules", "completion"} <= set(complete("lmeval-setup "))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(shell: str) -> None:
    proc = run("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert "_LMEVAL_SETUP_COMPLETE" in proc.stdout and "lmeval-setup" in proc.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    proc = run("completion", "tcsh")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_rules_lists_every_rule_in_catalog_order_with_schema() -> None:
    as_json = json.loads(run("rules", "-o", "json").stdout)
    validate(as_json, "rules")
    assert [r["id"] for r in as_json["rules"]] == list(RULES)
    assert yaml.safe_load(run("rules", "-o", "yaml").stdout) == as_json
    first = as_json["rules"][0]
    assert (first["name"], first["severity"]) == (RULES[first["id"]].slug, RULES[first["id"]].severity)


def test_rules_text_is_a_table_with_one_row_per_rule() -> None:
    lines = run("rules").stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "NAME", "SEVERITY", "FIX"]
    assert len(lines) == len(RULES) + 1
    assert lines[1].startswith("LME001 ") and RULES["LME001"].title in lines[1]


def test_rules_narrows_by_id_or_slug_and_refuses_an_unknown_one() -> None:
    doc = json.loads(run("rules", "lme002,offline-access", "-o", "json").stdout)
    assert [r["id"] for r in doc["rules"]] == ["LME001", "LME002"]
    proc = run("rules", "LME999")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: rules: unknown rule 'LME999' (rule IDs look like LME002)"]
