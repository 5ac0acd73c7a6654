"""Where the sandbox's job image lives: the venv `tools/build-jobimage.sh` builds (lm-eval and the
TrustyAI job image's library pins, no torch) and the Hub stand-in's generated content beside it.

The cache key is a hash of `tools/jobimage-constraints.txt` (and of `hubdata.py` for the Hub content),
so a changed pin builds a new venv instead of reusing a stale one. `LMEVAL_JOBIMAGE_ROOT` moves the
cache (default `${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/jobimage`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lmeval_setup.sandbox.cache import cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO_ROOT / "tools" / "jobimage-constraints.txt"
BUILD_SCRIPT = REPO_ROOT / "tools" / "build-jobimage.sh"
HUBDATA = Path(__file__).with_name("hubdata.py")
PODHOSTS = Path(__file__).with_name("podhosts.py")
HOSTS_MODULE = "_lmeval_sandbox_hosts.py"  # podhosts.py as installed into the venv


def _key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def cache_root() -> Path:
    return cache_dir("jobimage", override="LMEVAL_JOBIMAGE_ROOT")


@dataclass(frozen=True)
class JobImage:
    venv: Path
    hub: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def find() -> JobImage | None:
    """The built job image for the current pins, or None (run `make jobimage`)."""
    if not CONSTRAINTS.is_file():
        return None
    venv = cache_root() / _key(CONSTRAINTS)
    hub = venv / "hub" / _key(HUBDATA)
    if not (venv / ".installed").is_file() or not (hub / ".done").is_file():
        return None
    # Without the current name hook, cluster-local names would go to the machine's DNS: rebuild first.
    hooks = list((venv / "lib").glob(f"python3*/site-packages/{HOSTS_MODULE}"))
    if not hooks or hooks[0].read_bytes() != PODHOSTS.read_bytes():
        return None
    return JobImage(venv, hub)


def missing_reason() -> str:
    return (f"the job image venv is not built for the current pins (expected under {cache_root()}); "
            "run `make jobimage`")
