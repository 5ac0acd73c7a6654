"""What the cluster grants LM-Eval jobs: a leaf module (no project imports), so rules can name it
without importing detection and, through it, the kube client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permissions:
    online: bool
    code_execution: bool
