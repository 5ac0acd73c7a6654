"""`ansible-test sanity` on the lmeval.setup collection, runnable offline but for PyPI (`make ansible-sanity`).

ansible-test gives every sanity test its own virtualenv with its pinned requirements (pylint, yamllint,
voluptuous, ...) installed from PyPI, and bootstraps pip in each from a script it downloads from Ansible's CI
file host, which this environment cannot reach. ansible-test reads that script from its cache when present
(~/.ansible/test/cache/get_pip_<version>.py, its documented workaround); we put there a stand-in that does
the same with the interpreter's own ensurepip and then pip installs what ansible-test asks for. HOME points
into the project's cache (${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/ansible-test, beside the control plane
build), so the stand-in never reaches the user's own ~/.ansible and the per-test virtualenvs (a few minutes
to build the first time) are reused by every checkout on the machine.

Runs on this interpreter's Python version only: the modules' other target versions (3.8-3.13) have no
interpreter here, so `compile` and `import` check 3.11 alone.
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


def main() -> int:
    cache = HOME / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"get_pip_{pip_version().replace('.', '_')}.py").write_text(GET_PIP_STAND_IN)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "HOME": str(HOME), "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    argv = [os.path.join(bin_dir, "ansible-test"), "sanity", "--python", python, "--color", "no", *sys.argv[1:]]
    return subprocess.run(argv, cwd=COLLECTION, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
