"""Runs in threads of one process (test_five_concurrent_bootstraps_restart_at_most_once, a fleet driver).

The first bootstrap.runner.run() of a process looks up where the wheel puts the playbooks through
sysconfig, whose configuration variables are filled on first use; on Python 3.11 another thread can
see them half filled (KeyError 'userbase', raised as AttributeError). Five concurrent bootstraps in a
fresh pytest worker failed so: test_bootstrap -k five_concurrent alone failed at its first run.
"""

from __future__ import annotations

import sysconfig
import threading

import pytest

from lmeval_setup.bootstrap import runner as B

THREADS = 8
ROUNDS = 20


def _first_lookups_at_once() -> list[BaseException]:
    """THREADS threads ask for the project directories at the same moment; what they raised."""
    start, errors = threading.Barrier(THREADS), []

    def lookup() -> None:
        start.wait()
        try:
            B.installed_project_dirs()
        except Exception as exc:  # any exception is the finding
            errors.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_the_project_directories_can_be_looked_up_from_threads_of_a_fresh_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(ROUNDS):
        monkeypatch.setattr(sysconfig, "_CONFIG_VARS", None)  # as in a process that never asked sysconfig
        assert _first_lookups_at_once() == []
