"""sandbox/reaper.py in a child process: teardowns run on SIGTERM, newest first and once, and the process still
ends as killed by SIGTERM; a program's own SIGTERM handler is left alone (the sandbox runner, bootstrap)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from lmeval_setup.sandbox import reaper

    out = Path(sys.argv[1])
    if sys.argv[2] == "own-handler":
        signal.signal(signal.SIGTERM, lambda *_: (out.write_text("own handler"), sys.exit(7)))
    reaper.register(lambda: out.write_text(out.read_text() + "first " if out.exists() else "first "))
    reaper.register(lambda: out.write_text((out.read_text() if out.exists() else "") + "second "))
    dropped = reaper.register(lambda: out.write_text("must not run"))
    reaper.unregister(dropped)
    print("ready", flush=True)
    time.sleep(60)
""")


def run_child(tmp_path: Path, mode: str) -> tuple[int, str]:
    out = tmp_path / "out.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out), mode], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGTERM)
    code = child.wait(30)
    return code, out.read_text() if out.exists() else ""


def test_sigterm_runs_the_teardowns_newest_first_then_ends_as_sigterm(tmp_path: Path) -> None:
    code, out = run_child(tmp_path, "default")
    assert (code, out) == (-signal.SIGTERM, "second first ")


def test_a_program_s_own_sigterm_handler_is_kept(tmp_path: Path) -> None:
    code, out = run_child(tmp_path, "own-handler")
    assert (code, out.split("second")[0]) == (7, "own handler")  # its exit(7) still runs atexit's teardowns
