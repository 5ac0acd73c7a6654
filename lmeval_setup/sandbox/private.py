"""Files and directories only their owner can read: the sandbox's keys, kubeconfigs and state."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, from the first byte on.

    `write_bytes` then `chmod` leaves a window in which the file is world-readable (umask 022), and
    would follow a symlink planted at `path`; O_NOFOLLOW refuses that, fchmod fixes an older file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)


def make_private_dir(path: Path) -> None:
    """Create a directory (and missing parents) only its owner can enter, or tighten an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
