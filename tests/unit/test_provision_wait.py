"""provision --wait display: one rewritten line on a terminal, plain lines in CI logs."""

from __future__ import annotations

import io

from lmeval_setup.provision.wait import ProgressDisplay, describe_status, is_finished

RUNNING = {"status": {"state": "Running", "reason": "NoReason", "message": "Requesting API", "progressBars": [
    {"message": "Requesting API", "percent": "45%", "count": "450/1000", "elapsedTime": "00:12",
     "remainingTimeEstimate": "00:15"}]}}
DONE = {"status": {"state": "Complete", "reason": "Succeeded", "message": "job completed"}}


def test_describe_status_uses_the_newest_progress_bar() -> None:
    text = describe_status(RUNNING)
    assert text.startswith("Running: Requesting API [#########...........] 45% 450/1000")
    assert "eta 00:15" in text
    assert describe_status(DONE) == "Complete/Succeeded: job completed"
    assert describe_status({}) == "New"
    assert is_finished(DONE) and not is_finished(RUNNING)


def test_plain_lines_without_a_terminal_and_no_repeats() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=False, prefix="ns/job: ")
    for job in (RUNNING, RUNNING, DONE):
        display.update(job)
    display.close()
    expected = [f"ns/job: {describe_status(RUNNING)}", "ns/job: Complete/Succeeded: job completed"]
    assert stream.getvalue().splitlines() == expected
    assert "\r" not in stream.getvalue()


def test_terminal_rewrites_one_line() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=True)
    display.update(RUNNING)
    display.update(DONE)
    display.close()
    assert stream.getvalue().count("\r\x1b[K") == 2 and stream.getvalue().endswith("\n")


def test_a_status_message_cannot_move_the_cursor_of_the_rewritten_line() -> None:
    """The operator's message and lm-eval's progress text are the cluster's words: a CR or an escape sequence in
    them used to reach the terminal and overwrite the line being rewritten."""
    failed = {"status": {"state": "Complete", "reason": "Failed", "message": "exit status 1\r\x1b[2Kall fine"}}
    assert describe_status(failed) == "Complete/Failed: exit status 1\\r\\x1b[2Kall fine"
