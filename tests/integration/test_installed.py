"""Issue 13 "done when": the wheel and the collection tarball, installed into a fresh venv and an empty
collections path outside the repository, run bootstrap, revert, doctor and lint against a sandbox with no
checkout and no environment variable pointing at one.

The venv is really fresh: `pip install <wheel>[cluster] -c constraints.txt` resolves every dependency
(kubernetes.core included, from the declared `ansible` dependency) as a user's install does; pip's cache
makes a second run quick. The commands run from a working directory outside the repository, with PATH holding
only the fresh venv and the system, and no PYTHONPATH or LMEVAL_ANSIBLE_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bootstrap_support import sandbox

from lmeval_setup.kube.source import KubeSource
from lmeval_setup.platform.detect import detect

REPO = Path(__file__).resolve().parents[2]
COLLECTION_SRC = REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup"
VENV_BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]


@dataclass
class Installed:
    root: Path  # outside the repository: the working directory of every command
    venv: Path
    collections: Path

    def env(self, kubeconfig: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "LMEVAL_ANSIBLE_DIR", "VIRTUAL_ENV", "ANSIBLE_CONFIG",
                             "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")}
        (self.root / "tmp").mkdir(exist_ok=True)  # kubernetes.core's discovery cache, not in /tmp
        return {**keep, "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "KUBECONFIG": kubeconfig,
                "HOME": str(self.root / "home"), "ANSIBLE_HOME": str(self.root / "home" / ".ansible"),
                "TMPDIR": str(self.root / "tmp")}

    def run(self, *argv: str, kubeconfig: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=self.root, env=self.env(kubeconfig), capture_output=True, text=True,
                              timeout=timeout, check=False)


def _check(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH: a checkout on it (with the egg-info `pip wheel` leaves there) makes pip in the fresh venv
    # believe lmeval-setup is already installed, and it silently installs only the dependencies.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, **kw)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{(proc.stdout + proc.stderr)[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    assert REPO not in root.parents
    dist = root / "dist"
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)], timeout=300)
    _check([str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION_SRC), "--output-path", str(dist)],
           timeout=120, cwd=root)
    wheel, tarball = next(dist.glob("lmeval_setup-*.whl")), next(dist.glob("lmeval-setup-*.tar.gz"))
    venv = root / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], timeout=120)
    # --no-compile (issue 15 item 5): pip byte-compiles all ~19,500 .py files of the venv by default (the
    # `ansible` package's collections nearly all), 50 s of CPU against 16 s without; Python compiles what the
    # commands import when they import it, so what runs is the same.
    _check([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
            "-c", str(REPO / "constraints.txt"), f"{wheel}[cluster]"], timeout=900)
    collections = root / "collections"
    # --no-deps: kubernetes.core is already there from the wheel's declared dependency (no Galaxy server here).
    _check([str(venv / "bin" / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections),
            str(tarball)], timeout=120, cwd=root)
    (root / "home").mkdir()
    return Installed(root, venv, collections)


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    proc = installed.run(str(installed.venv / "bin" / "python"), "-c",
                         "import lmeval_setup, ansible_collections.kubernetes.core as k; print(lmeval_setup.__file__)",
                         kubeconfig="/nonexistent")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(installed.venv), proc.stdout
    galaxy = installed.run(str(installed.venv / "bin" / "ansible-galaxy"), "collection", "list", "-p",
                           str(installed.collections), kubeconfig="/nonexistent")
    assert "lmeval.setup" in galaxy.stdout and "kubernetes.core" in galaxy.stdout, galaxy.stdout + galaxy.stderr


def test_bootstrap_revert_doctor_lint_from_the_installed_package(installed: Installed, new_controlplane: Any) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    cli = str(installed.venv / "bin" / "lmeval-setup")
    job = installed.root / "job.yaml"
    shutil.copy(REPO / "examples" / "jobs" / "base-url-without-path.yaml", job)
    with sandbox(new_controlplane, "rhoai-2.25", "fresh") as sb:
        lint = installed.run(cli, "lint", str(job), "-o", "json", kubeconfig=kubeconfig)
        assert lint.returncode == 1 and "LME002" in {f["id"] for f in json.loads(lint.stdout)["findings"]}, lint

        boot = installed.run(cli, "bootstrap", "-o", "json", kubeconfig=kubeconfig, timeout=600)
        assert boot.returncode == 0, (boot.stdout + boot.stderr)[-3000:]
        facts = detect(KubeSource(sb.kube))
        assert facts.trustyai_state == "Managed"
        assert facts.dsc_eval == {"permitOnline": "allow", "permitCodeExecution": "allow"}

        doctor = installed.run(cli, "doctor", "-A", "-o", "json", kubeconfig=kubeconfig)
        assert doctor.returncode in (0, 1), doctor.stderr
        assert json.loads(doctor.stdout)["schema"] == "lmeval-setup/findings"

        revert = installed.run(cli, "revert", "-o", "json", kubeconfig=kubeconfig, timeout=600)
        assert revert.returncode == 0, (revert.stdout + revert.stderr)[-3000:]
        assert detect(KubeSource(sb.kube)).trustyai_state == "Removed"



def test_ansible_playbook_runs_the_installed_collections_playbook(installed: Installed, new_controlplane: Any) -> None:
    """`ansible-playbook lmeval.setup.bootstrap` and `lmeval.setup.revert` from the collection installed by
    ansible-galaxy into an empty path: its role and modules, kubernetes.core from the venv's `ansible` package."""
    kubeconfig = str(new_controlplane.kubeconfig)
    inventory = installed.root / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"cluster": {
        "ansible_connection": "local", "ansible_python_interpreter": str(installed.venv / "bin" / "python"),
        "lmeval_kubeconfig": kubeconfig}}}}))
    # The only lmeval.setup ansible can find: the wheel puts its copy under share/, not on a collections path.
    env = {**installed.env(kubeconfig), "ANSIBLE_COLLECTIONS_PATH": str(installed.collections), "ANSIBLE_NOCOLOR": "1"}

    def playbook(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(installed.venv / "bin" / "ansible-playbook"), "-i", str(inventory), name],
                              cwd=installed.root, env=env, capture_output=True, text=True, timeout=600, check=False)

    with sandbox(new_controlplane, "rhoai-2.25", "fresh") as sb:
        boot = playbook("lmeval.setup.bootstrap")
        assert boot.returncode == 0, (boot.stdout + boot.stderr)[-4000:]
        facts = detect(KubeSource(sb.kube))
        assert facts.trustyai_state == "Managed"
        assert facts.dsc_eval == {"permitOnline": "allow", "permitCodeExecution": "allow"}
        revert = playbook("lmeval.setup.revert")
        assert revert.returncode == 0, (revert.stdout + revert.stderr)[-4000:]
        assert detect(KubeSource(sb.kube)).trustyai_state == "Removed"


# -- the execution environment, from the same artifacts (issue 13 leftover 3) ----------------------------------
EE_STEPS_START = "COPY _build/artifacts /tmp/lmeval-setup-artifacts"
EE_STEPS_END = "RUN rm -rf /tmp/lmeval-setup-artifacts"


def _ee_context(installed: Installed) -> Path:
    """`ansible-builder create` from a directory holding only execution-environment.yml and dist/ (this module's
    wheel and collection tarball): the build context `ansible-builder build` would hand the container runtime."""
    builder = VENV_BIN / "ansible-builder"
    if not builder.exists():
        pytest.skip("ansible-builder is not installed (the dev extra has it): pip install -e '.[dev]'")
    ee_dir = installed.root / "ee"
    (ee_dir / "dist").mkdir(parents=True)
    shutil.copy(REPO / "execution-environment.yml", ee_dir)
    for artifact in (installed.root / "dist").iterdir():
        shutil.copy(artifact, ee_dir / "dist")
    _check([str(builder), "create", "-f", "execution-environment.yml", "-c", "context"], cwd=ee_dir, timeout=120)
    return ee_dir / "context"


def _image_steps(context: Path) -> list[str]:
    """The lmeval.setup lines of the final stage (execution-environment.yml's append_final), as built."""
    lines = [line.strip() for line in (context / "Dockerfile").read_text().splitlines()]
    start, end = lines.index(EE_STEPS_START), lines.index(EE_STEPS_END)
    assert lines.index("FROM base AS final") < start, "the artifacts are installed in the final stage"
    return lines[start:end + 1]


def test_the_execution_environment_builds_from_the_artifacts(installed: Installed) -> None:
    """No container runtime here, so the build context is what is tested: it holds the wheel and the tarball this
    module installed and ran (byte for byte) and nothing else of the project, and the image's install steps,
    run as written against that context (paths moved into a temporary root, $PYCMD the installed venv's python,
    which has that very wheel already, and its kubernetes.core as the galaxy stage's), give a collection, installed
    offline, whose module imports the package and runs (to a cluster that is not there: reason unreachable)."""
    context = _ee_context(installed)
    artifacts = sorted((context / "_build" / "artifacts").iterdir())
    assert [p.name for p in artifacts] == sorted(p.name for p in (installed.root / "dist").iterdir())
    for artifact in artifacts:
        assert artifact.read_bytes() == (installed.root / "dist" / artifact.name).read_bytes()
    builders_own = {"Dockerfile", "_build/requirements.txt", "_build/requirements.yml"}
    for path in context.rglob("*"):
        relative = path.relative_to(context).as_posix()
        assert (path.is_dir() or relative in builders_own or relative.startswith(("_build/scripts/",
                "_build/artifacts/"))), f"{relative}: the context carries more than the artifacts"
    image = installed.root / "image"  # where the steps' absolute paths land
    collections = image / "usr" / "share" / "ansible" / "collections"
    for step in _image_steps(context):
        command = step.replace("/tmp/", f"{image}/tmp/").replace("/usr/share/ansible/", f"{image}/usr/share/ansible/")
        if command.startswith("COPY "):
            _, source, target = command.split()
            shutil.copytree(context / source, target)
            continue
        assert command.startswith("RUN "), step
        proc = subprocess.run(["bash", "-c", command.removeprefix("RUN ")], cwd=installed.root, capture_output=True,
                              env={**installed.env("/nonexistent"), "PYCMD": str(installed.venv / "bin" / "python")},
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, (step, (proc.stdout + proc.stderr)[-2000:])
    assert (collections / "ansible_collections" / "lmeval" / "setup" / "MANIFEST.json").exists()
    assert not (image / "tmp" / "lmeval-setup-artifacts").exists()
    env = {**installed.env("/nonexistent"), "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1",
           "K8S_AUTH_HOST": "https://127.0.0.1:1", "K8S_AUTH_API_KEY": "ee-test"}
    module = subprocess.run(
        [str(installed.venv / "bin" / "ansible"), "localhost", "-c", "local", "-m", "lmeval.setup.lmeval_facts",
         "-e", f"ansible_python_interpreter={installed.venv / 'bin' / 'python'}"],
        cwd=installed.root, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert '"reason": "unreachable"' in module.stdout, (module.stdout + module.stderr)[-2000:]
