"""`ansible-test sanity` on the lmeval.setup collection, runnable offline but for PyPI (`make ansible-sanity`).

ansible-test gives every sanity test its own virtualenv with its pinned requirements (pylint, yamllint,
voluptuous, ...) installed from PyPI, and bootstraps pip in each from a script it downloads from Ansible's CI
file host, which this environment cannot reach. ansible-test reads that script from its cache when present
(~/.ansible/test/cache/get_pip_<version>.py, its documented workaround); we put there a stand-in that does
the same with the interpreter's own ensurepip and then pip installs what ansible-test asks for. HOME points
into the project's cache (${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/ansible-test, beside the control plane
build), so the stand-in never reaches the user's own ~/.ansible and the per-test virtualenvs (a few minutes
to build the first time) are reused by every checkout on the machine.

The tests that ansible-test runs per Python version (`compile`, `import`) run on every version it supports for
modules (3.8-3.13 with ansible-core 2.19) that has a working interpreter here: this venv's, and `python3.X` on
PATH or under pyenv's versions directory ($PYENV_ROOT, else ~/.pyenv), which this machine's image carries. A
PATH entry whose `python3.X` does not run (a pyenv shim for a version that is not selected) is left off PATH,
so ansible-test skips that version instead of failing on the shim; the first line printed names the versions
checked and those missing. (uv could fetch CPython builds, but from a host outside the package registries this
environment reaches.) The other tests (pylint, validate-modules, ...) run once, on this interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup"
HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lmeval-setup" / "ansible-test"

GET_PIP_STAND_IN = '''\
"""Stand-in for ansible-test's pip bootstrap script (written by tools/ansible_sanity.py): ensurepip, then
pip installs the packages ansible-test names (get-pip's own --no-setuptools/--no-wheel mean: nothing more)."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
'''


def pip_version() -> str:
    """The pip ansible-test pins for its virtualenvs (ansible_test/_internal/python_requirements.py)."""
    import ansible_test

    source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
    found = re.search(r"pip='(\d+(?:\.\d+)*)'", source)
    if not found:
        raise SystemExit("tools/ansible_sanity.py: cannot find ansible-test's pinned pip version")
    return found.group(1)


def module_python_versions() -> tuple[str, ...]:
    """The Python versions ansible-test checks modules on (its remote-only and controller versions)."""
    from ansible_test._util.target.common.constants import CONTROLLER_PYTHON_VERSIONS, REMOTE_ONLY_PYTHON_VERSIONS

    return tuple(REMOTE_ONLY_PYTHON_VERSIONS) + tuple(CONTROLLER_PYTHON_VERSIONS)


def runs_as(interpreter: str, version: str) -> bool:
    """Whether `interpreter` starts and is Python `version` (a pyenv shim of an unselected version does not)."""
    try:
        proc = subprocess.run([interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == version


def find_interpreter(version: str, path: list[str]) -> str | None:
    """A working python<version>: on PATH first, else the newest pyenv build of that version."""
    name = f"python{version}"
    candidates = [os.path.join(entry, name) for entry in path if os.access(os.path.join(entry, name), os.X_OK)]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted((str(p) for p in pyenv.glob(f"{version}.*/bin/{name}")), reverse=True)
    return next((c for c in candidates if runs_as(c, version)), None)


def sanity_path(bin_dir: str) -> tuple[str, list[str], list[str]]:
    """(PATH for ansible-test, the versions it can check, the versions with no working interpreter)."""
    path = [bin_dir] + [e for e in os.environ.get("PATH", "").split(os.pathsep) if e]
    found: dict[str, str] = {}
    for version in module_python_versions():
        interpreter = find_interpreter(version, path)
        if interpreter is not None:
            found[version] = os.path.dirname(interpreter)
    missing = [v for v in module_python_versions() if v not in found]
    # Where a missing version's name is on PATH but does not run (a shim), ansible-test would fail on it.
    broken = {e for e in path for v in missing if os.access(os.path.join(e, f"python{v}"), os.X_OK)}
    front = list(dict.fromkeys([bin_dir, *found.values()]))
    rest = [e for e in path if e not in front and e not in broken]
    return os.pathsep.join(front + rest), list(found), missing


def main() -> int:
    cache = HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{pip_version().replace('.', '_')}.py").write_text(GET_PIP_STAND_IN)
    bin_dir = str(Path(sys.executable).parent)
    path, versions, missing = sanity_path(bin_dir)
    print(f"ansible-test sanity: compile and import on Python {', '.join(versions)}"
          + (f"; no interpreter for {', '.join(missing)}" if missing else ""), flush=True)
    env = {**os.environ, "HOME": str(HOME), "PATH": path}
    # No --python: the per-version tests run on every version found on PATH, the others on this interpreter.
    argv = [os.path.join(bin_dir, "ansible-test"), "sanity", "--color", "no", *sys.argv[1:]]
    return subprocess.run(argv, cwd=COLLECTION, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
