"""Byte-compile the part of the `ansible` package that Ansible and ansible-lint load here.

PyPI has kubernetes.core only inside the `ansible` community package, which brings ~100 other collections:
15,000 Python files, whose byte-compilation was half of what pip did to set up the venv (~30 s of CPU). The
Makefile installs that package with --no-compile and this compiles what is imported: kubernetes.core (the role's
k8s modules), every collection's become plugins (ansible-lint lists them all) and the package's two top-level
modules. Whatever else is ever imported still works, compiled in memory by the process that imports it (CI sets
PYTHONDONTWRITEBYTECODE, so nothing would cache it).
"""

from __future__ import annotations

import compileall
import sys
import sysconfig
from pathlib import Path

LOADED = ("kubernetes/core", "*/*/plugins/become")


def collections_root() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"


def paths_to_compile(root: Path) -> list[Path]:
    """The directories of LOADED under `root` and its top-level modules, in a stable order."""
    directories = sorted({path for pattern in LOADED for path in root.glob(pattern) if path.is_dir()})
    return directories + sorted(root.glob("*.py"))


def main() -> int:
    root = collections_root()
    if not root.is_dir():
        print(f"compile_collections: no {root} (the cluster extra is not installed); nothing to compile")
        return 0
    ok = True
    for path in paths_to_compile(root):
        if path.is_dir():
            ok &= compileall.compile_dir(path, quiet=1, workers=0)
        else:
            ok &= compileall.compile_file(path, quiet=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
