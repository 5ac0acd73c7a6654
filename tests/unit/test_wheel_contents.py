"""The wheel carries every file bootstrap runs (issue 13 item 3): pyproject's data-files list directories one
by one, so a file added to the collection in a new directory (plugins/module_utils, a second role) would be
left out of the wheel silently; this compares the wheel with the tracked files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "ansible/collections/ansible_collections/lmeval/setup"
DATA = "lmeval_setup-0.1.0.data/data/share/lmeval-setup/project/"


def tracked(*paths: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=REPO, capture_output=True, text=True, check=True)
    return {line for line in out.stdout.splitlines() if (REPO / line).exists()}


def test_the_wheel_carries_the_collection_playbooks_and_config(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("lmeval_setup-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        carried = {name.removeprefix(DATA) for name in zf.namelist() if name.startswith(DATA)}
        scripts = zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt"))).decode()
    # molecule and the sanity ignore files test the collection; nothing runs them from the wheel
    wanted = {p for p in tracked(COLLECTION, "playbooks", "ansible.cfg")
              if "/molecule/" not in p and not p.startswith(f"{COLLECTION}/tests/")}
    assert wanted - carried == set(), "add these directories to [tool.setuptools.data-files] in pyproject.toml"
    assert f"{COLLECTION}/roles/bootstrap/tasks/main.yml" in carried
    for script in ("lmeval-setup", "kubectl-lmeval", "kubectl_complete-lmeval"):
        assert f"{script} = " in scripts, scripts
