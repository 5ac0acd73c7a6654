"""Process-tree facts from /proc for the orphan tests: who descends from whom, and who is still alive.

A process is identified by (pid, start time), so a pid the kernel hands out again is not mistaken for the
process that had it. Zombies count as gone: they have exited and only wait to be reaped.
"""

from __future__ import annotations

import time
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def identity(pid: int) -> Proc | None:
    fields = _stat(pid)
    return (pid, int(fields[19])) if fields else None


def descendants(root: int) -> set[Proc]:
    """`root` and every process below it, as they are now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[Proc] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        me = identity(pid)
        if me is None:
            continue
        found.add(me)
        todo.extend(children.get(pid, []))
    return found


def alive(proc: Proc) -> bool:
    """Still running (not exited, not a zombie) and still the same process."""
    fields = _stat(proc[0])
    return bool(fields) and fields[0] != "Z" and int(fields[19]) == proc[1]


def survivors(procs: set[Proc], timeout: float = 15.0) -> set[Proc]:
    """Those of `procs` still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    left = {p for p in procs if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left


def wait_for_descendants(root: int, count: int, timeout: float = 30.0) -> set[Proc]:
    """The tree under `root` once it has at least `count` processes (root included)."""
    deadline = time.monotonic() + timeout
    while True:
        tree = descendants(root)
        if len(tree) >= count or time.monotonic() > deadline:
            return tree
        time.sleep(0.05)
