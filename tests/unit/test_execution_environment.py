"""execution-environment.yml (issue 13 leftover 3): built from the release artifacts, never from a checkout, and
with the Python dependencies the wheel declares (the `cluster` extra), less what Ansible itself brings (the EE's
ansible_core, ansible_runner and galaxy sections). tests/integration/test_installed.py builds the context from
the real artifacts and runs its install steps."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EE = yaml.safe_load((REPO / "execution-environment.yml").read_text())
# Ansible and its collections come from the EE's ansible_core / ansible_runner / galaxy sections, not python:
FROM_ANSIBLE = {"ansible", "ansible-core", "ansible-runner"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_the_python_dependencies_are_the_wheels_less_ansible() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [r for r in project["dependencies"] + project["optional-dependencies"]["cluster"]
              if _name(r) not in FROM_ANSIBLE]
    assert EE["dependencies"]["python"] == wanted
    core = next(r for r in project["optional-dependencies"]["cluster"] if _name(r) == "ansible-core")
    assert EE["dependencies"]["ansible_core"]["package_pip"] == core


def test_the_context_gets_the_artifacts_and_nothing_of_the_checkout() -> None:
    sources = [entry["src"] for entry in EE["additional_build_files"]]
    assert sources == ["dist/lmeval_setup-*.whl", "dist/lmeval-setup-*.tar.gz"]
    steps = " ".join(EE["additional_build_steps"]["append_final"])
    assert "pip install --no-deps /tmp/lmeval-setup-artifacts/lmeval_setup-*.whl" in steps
    assert "ansible-galaxy collection install --offline" in steps
    galaxy = [c["name"] for c in EE["dependencies"]["galaxy"]["collections"]]
    assert galaxy == ["kubernetes.core"]  # lmeval.setup's declared dependency, installed before it
    declared = yaml.safe_load((REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup"
                               / "galaxy.yml").read_text())["dependencies"]
    assert list(declared) == galaxy
