"""One answer to "is this process group alive", shared by the control plane and `sandbox status/down`.

The control plane's copy lacked the guard the CLI's had: group 0 means the caller's own group, so an
unrecorded pgid read as alive (and stopping waited for ourselves)."""

from __future__ import annotations

import os

from lmeval_setup.sandbox.controlplane import group_alive


def test_no_group_is_never_alive_and_ours_is() -> None:
    assert not group_alive(None)
    assert not group_alive(0)
    assert not group_alive(1)
    assert group_alive(os.getpgrp())
