"""Install the kubernetes.core collection into the venv without Galaxy.

PyPI has no package with kubernetes.core alone, but the `ansible` community bundle carries it. We
download that one wheel (no dependencies, no install) and extract only ansible_collections/kubernetes/
core into <venv>/share/lmeval-setup/collections, where lmeval-setup and the playbooks look for it.
Idempotent: does nothing when the pinned version is already there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

BUNDLE = "ansible==12.3.0"  # the newest bundle for ansible-core 2.19 / Python 3.11
COLLECTION = "kubernetes/core"
EXPECTED_VERSION = "6.2.0"


def target_dir() -> Path:
    return Path(sys.prefix) / "share" / "lmeval-setup" / "collections"


def installed_version(root: Path) -> str | None:
    manifest = root / "ansible_collections" / COLLECTION / "MANIFEST.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["collection_info"]["version"])


def main() -> int:
    root = target_dir()
    if installed_version(root) == EXPECTED_VERSION:
        print(root)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, BUNDLE], check=True
        )
        wheel = next(Path(tmp).glob("ansible-*.whl"))
        prefix = f"ansible_collections/{COLLECTION}/"
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith(prefix)]
            zf.extractall(root, members)
    version = installed_version(root)
    if version != EXPECTED_VERSION:
        print(f"error: expected kubernetes.core {EXPECTED_VERSION}, got {version}", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
