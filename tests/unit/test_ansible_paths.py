"""Every path the Ansible configuration names exists in the checkout (issue 13 leftovers: ansible.cfg named
ansible/roles after the role moved into the collection, and both it and the runner named a vendored
kubernetes.core copy that nothing installs any more: kubernetes.core comes with the `ansible` package)."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from lmeval_setup.bootstrap import runner

REPO = Path(__file__).resolve().parents[2]


def _shipped_dir(path: Path) -> bool:
    """A non-empty directory of the checkout itself (not the venv: a fresh clone has only what is tracked)."""
    path = path.resolve()
    inside = path.is_relative_to(REPO) and not path.is_relative_to(REPO / ".venv")
    return inside and path.is_dir() and any(path.iterdir())


def test_ansible_cfg_names_only_paths_that_exist() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    for key in ("roles_path", "collections_path", "collections_paths"):
        for entry in config["defaults"].get(key, "").split(os.pathsep):
            if entry.strip():
                assert _shipped_dir(REPO / entry.strip()), f"ansible.cfg {key}: {entry} is not part of the checkout"


def test_the_runner_environment_names_only_paths_that_exist(tmp_path: Path) -> None:
    env = runner.environment(REPO, tmp_path)
    assert "ANSIBLE_ROLES_PATH" not in env
    for entry in env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep):
        assert _shipped_dir(Path(entry)), entry
