"""The pre-commit hook: the changed files of a run are linted together, and its install is light.

pre-commit passes the changed files as arguments. A kustomize patch among them is not a manifest:
judged alone it gets findings for what its base provides. It must be linted through its kustomization.
The hook's environment is `pip install .` of this repository, so the base dependencies are what lint
needs (click, PyYAML); the cluster commands' dependencies are the `cluster` extra.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "lint"
HEAVY = ("kubernetes", "ansible", "ansible_runner", "jsonpatch", "cryptography", "urllib3")
# Run the CLI as the hook's light environment would: the cluster dependencies cannot be imported.
WITHOUT_CLUSTER_EXTRA = (
    "import sys\n"
    f"for name in {HEAVY!r}:\n"
    "    sys.modules[name] = None\n"
    "from lmeval_setup.cli.main import main\n"
    "main(sys.argv[1:])\n"
)

PATCH = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata:
  name: good
  namespace: private-ai-demo
spec:
  limit: "5"
"""


def light_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_CLUSTER_EXTRA, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def gitops(tmp_path: Path) -> Path:
    """base/ (a clean job) and overlays/prod/ (the base plus a patch that only sets the limit)."""
    base, prod = tmp_path / "base", tmp_path / "overlays" / "prod"
    base.mkdir()
    prod.mkdir(parents=True)
    (base / "job.yaml").write_text((DATA / "seed-good.yaml").read_text())
    (base / "kustomization.yaml").write_text("resources:\n  - job.yaml\n")
    (prod / "kustomization.yaml").write_text("resources:\n  - ../../base\npatches:\n  - path: patch.yaml\n")
    (prod / "patch.yaml").write_text(PATCH)
    (tmp_path / "plain.yaml").write_text((DATA / "seed-02-base-url.yaml").read_text())
    return tmp_path


def test_changed_files_of_a_run_are_linted_with_their_kustomization(gitops: Path) -> None:
    done = light_cli(gitops, "lint", "-o", "json", "base/job.yaml", "overlays/prod/patch.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert yaml.safe_load(done.stdout)["findings"] == []


def test_the_patch_alone_is_linted_through_its_overlay(gitops: Path) -> None:
    done = light_cli(gitops, "lint", "-o", "json", "overlays/prod/patch.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(done.stdout)["findings"] == []


def test_files_outside_any_kustomization_are_still_linted_alone(gitops: Path) -> None:
    done = light_cli(gitops, "lint", "-o", "json", "plain.yaml", "overlays/prod/patch.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    rules = {f["id"] for f in yaml.safe_load(done.stdout)["findings"]}
    assert "LME002" in rules  # the plain file's wrong base_url, found as before


def test_the_hook_runs_once_per_commit_with_every_file() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["entry"] == "lmeval-setup lint"
    # pre-commit splits the files over parallel processes unless require_serial: a patch would land
    # in one process and its kustomization's other files in another.
    assert hook["require_serial"] is True
    assert re.search(hook["files"], "overlays/prod/kustomization.yaml")


def test_the_base_install_is_light_and_the_cluster_extra_has_the_rest() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert names == {"click", "pyyaml"}
    cluster = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["optional-dependencies"]["cluster"]}
    assert {"kubernetes", "ansible-core", "ansible-runner", "jsonpatch", "cryptography"} <= cluster


def test_a_cluster_command_without_the_cluster_extra_is_one_line_rc_4(tmp_path: Path) -> None:
    done = light_cli(tmp_path, "doctor", "-n", "x")
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "lmeval-setup[cluster]" in done.stderr, done.stderr
