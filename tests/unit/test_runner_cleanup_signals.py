"""A Ctrl-C or SIGTERM while bootstrap removes ansible-runner's private data directory no longer leaves half
of it on disk (issue 16 leftover, found as the adversary of bootstrap's signal handling). The directory's
artifacts hold the command ansible-runner ran and its environment (K8S_AUTH_API_KEY included); the removal
ran after the run's own signal forwarding had ended, so the CLI's handler raised in the middle of it. The
signal is real (os.kill of this process, in the middle of the removal); ansible-runner is a stand-in."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.bootstrap import runner
from lmeval_setup.bootstrap.runner import RunOptions

KUBECONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
              "users": [{"name": "u", "user": {"token": "sekret-token"}}],
              "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


class _Finished:
    status, rc = "successful", 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_cleanup_still_removes_the_runner_directory(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path, signum: int) -> None:
    import ansible_runner

    class Cut(BaseException):
        """What the CLI's handlers raise (KeyboardInterrupt, Terminated): here for both signals."""

    def handler(_signum: int, _frame: object) -> None:
        raise Cut

    def fake_run(private_data_dir: str, **_kwargs: Any) -> _Finished:
        artifacts = Path(private_data_dir) / "artifacts" / "run-1"
        artifacts.mkdir(parents=True)
        (artifacts / "command").write_text('{"env": {"K8S_AUTH_API_KEY": "sekret-token"}}')
        return _Finished()

    real_rmtree = shutil.rmtree

    def rmtree_cut_short(path: Any, *args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signum)  # the handler raises at the next instruction, unless the signal waits
        real_rmtree(path, *args, **kwargs)

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    runs = tmp_path / "tmp"
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    monkeypatch.setattr(ansible_runner, "run", fake_run)
    monkeypatch.setattr(shutil, "rmtree", rmtree_cut_short)
    previous = signal.signal(signum, handler)
    try:
        with pytest.raises(Cut):
            runner.run(RunOptions("bootstrap", kubeconfig=str(kubeconfig), timeout=60))
    finally:
        signal.signal(signum, previous)
    assert list(runs.iterdir()) == []  # the signal still ended the run, after the directory was gone
