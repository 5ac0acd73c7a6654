"""Derived documentation stays in step with its source."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_rules_page_is_generated_from_the_catalog() -> None:
    spec = importlib.util.spec_from_file_location("gen_rules_doc", REPO / "tools" / "gen_rules_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (REPO / "docs" / "rules.md").read_text() == module.render(), "run: python tools/gen_rules_doc.py"


def test_readme_opens_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]


def test_readme_names_every_sandbox_profile() -> None:
    from lmeval_setup.platform.releases import PROFILES

    text = (REPO / "README.md").read_text()
    assert all(name in text for name in PROFILES)
