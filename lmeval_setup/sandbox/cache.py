"""Where the sandbox keeps what it builds once (control plane binaries, the operator, the job image)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str, override: str) -> Path:
    """$<override> when set, else ${XDG_CACHE_HOME:-~/.cache}/lmeval-setup/<parts...>."""
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lmeval-setup" / Path(*parts)
