"""Where a sandbox keeps its state, and the rules that keep `up` and `down` from touching anything else.

A sandbox's directory is ${XDG_STATE_HOME:-~/.local/state}/lmeval-setup/sandbox/<name>/ or --state-dir.
`up` creates it (0700) and writes a marker file into it first; `down` and a re-`up` delete only a
directory that carries that marker, so `--state-dir ~` or `--state-dir /some/project` is refused
instead of emptied. Names are DNS labels: they become path components (`..` or `../../x` would leave
the state directory) and appear in shell snippets such as `sandbox env`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import KW_ONLY, asdict, dataclass
from pathlib import Path

from lmeval_setup.errors import UsageError
from lmeval_setup.safeio import os_error_text
from lmeval_setup.sandbox.private import make_private_dir, write_private

STATE_FILE = "sandbox.json"
MARKER_FILE = ".lmeval-sandbox"
MARKER_KIND = "lmeval-setup sandbox state directory"
# RFC 1123 label, as Kubernetes names namespaces: lower-case alphanumerics and '-', at most 63.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass
class SandboxState:
    profile: str
    scenario: str
    _: KW_ONLY
    runner_pgid: int | None = None
    created: float = 0.0

    def save(self, state_dir: Path) -> None:
        write_private(state_dir / STATE_FILE, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def load(cls, state_dir: Path) -> SandboxState | None:
        path = state_dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise UsageError(f"{path}: not a sandbox state file ({type(exc).__name__})",
                             hint="lmeval-setup sandbox down removes it") from None


def validate_name(name: str) -> str:
    if not _DNS_LABEL.match(name):
        raise UsageError(f"--name {name!r}: a sandbox name is a DNS label "
                         "(lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)")
    return name


def default_state_dir(name: str) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "lmeval-setup" / "sandbox" / validate_name(name)


def resolve_state_dir(name: str, state_dir: Path | None) -> Path:
    """The directory to use, absolute: process command lines and state files name it."""
    validate_name(name)
    directory = (state_dir if state_dir is not None else default_state_dir(name)).absolute()
    try:
        os.lstat(directory / STATE_FILE)
    except (FileNotFoundError, NotADirectoryError):
        pass  # nothing there yet, or a file in the way: up's own checks name that
    except OSError as exc:  # a name too long, no search permission: one line now, not a traceback later
        raise UsageError(f"--state-dir {directory}: cannot use it: {os_error_text(exc)}") from None
    return directory


def has_marker(directory: Path) -> bool:
    marker = directory / MARKER_FILE
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("kind") == MARKER_KIND)
    except (ValueError, OSError, AttributeError):
        return False


def _refuse_symlink(directory: Path) -> None:
    if directory.is_symlink():
        raise UsageError(f"{directory} is a symbolic link; give the sandbox a real directory")


def claim(directory: Path, name: str) -> None:
    """Make `directory` a fresh, private sandbox directory: refused unless absent, empty or ours.

    A directory of ours (a crashed sandbox's leftovers) is emptied first.
    """
    require_ours(directory)
    if has_marker(directory):
        shutil.rmtree(directory)
    make_private_dir(directory)
    marker = {"kind": MARKER_KIND, "name": name, "created": time.time()}
    write_private(directory / MARKER_FILE, json.dumps(marker).encode())


def remove(directory: Path) -> bool:
    """Delete a sandbox directory: only one carrying our marker. False when there is none."""
    _refuse_symlink(directory)
    if not directory.exists():
        return False
    if not has_marker(directory):
        raise UsageError(f"{directory} is not a sandbox directory (no {MARKER_FILE} marker); refusing to remove it")
    shutil.rmtree(directory)
    return True


def require_ours(directory: Path) -> None:
    """Before acting on what a directory holds (the process groups its state file names, the files
    `up` would replace): it must be absent, empty, or a sandbox's."""
    _refuse_symlink(directory)
    if directory.is_dir() and not has_marker(directory) and any(directory.iterdir()):
        raise UsageError(f"{directory} is not a sandbox directory (no {MARKER_FILE} marker); leaving it alone",
                         hint="give --state-dir a new or empty directory")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
