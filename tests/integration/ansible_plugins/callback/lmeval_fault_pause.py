"""Test-only callback: pause the playbook after a named task so the test can kill the apiserver.

Loaded only by tests/integration/fault_support.py (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED);
never shipped with the role. Callbacks for a task's result run in the ansible-playbook main process
before the strategy queues the next task, so blocking here is a deterministic injection point that
needs no hook in the role, the modules or lmeval_setup.

Environment:
  LMEVAL_FAULT_AFTER_TASK  task name (without the role prefix) whose ok/changed result triggers the pause
  LMEVAL_FAULT_DIR         directory for the handshake: we create `fired`, then wait for `released`
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lmeval_fault_pause
type: aggregate
short_description: pause after a named task (tests only)
description: Writes LMEVAL_FAULT_DIR/fired after LMEVAL_FAULT_AFTER_TASK succeeds and waits for released.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""

RELEASE_TIMEOUT = 120.0


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lmeval_fault_pause"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.task_name = os.environ.get("LMEVAL_FAULT_AFTER_TASK", "")
        self.directory = Path(os.environ.get("LMEVAL_FAULT_DIR", "."))
        self.fired = False

    def v2_runner_on_ok(self, result: object) -> None:
        task = getattr(result, "task", None) or getattr(result, "_task", None)
        name = task.get_name() if task is not None else ""
        if self.fired or not self.task_name or name.split(" : ", 1)[-1] != self.task_name:
            return
        self.fired = True
        (self.directory / "fired").write_text(name)
        deadline = time.monotonic() + RELEASE_TIMEOUT
        while not (self.directory / "released").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
