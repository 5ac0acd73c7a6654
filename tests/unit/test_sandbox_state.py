"""The sandbox touches only what it created: names, state directories, `down`, `env`, key files.

No control plane needed: every refusal happens before anything starts, and `down` of a marked
directory with no live processes is the same code path as after a real sandbox.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmeval_setup.cli.main import main
from lmeval_setup.sandbox import state as S


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_STATE_HOME with two existing sandboxes' directories and a file next to the sandbox root."""
    home = tmp_path / "state"
    root = home / "lmeval-setup" / "sandbox"
    for name in ("alpha", "beta"):
        S.claim(root / name, name)
        (root / name / "sandbox.json").write_text(json.dumps({"profile": "rhoai-2.25", "scenario": "fresh"}))
    (home / "lmeval-setup" / "precious.txt").write_text("keep me")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", ["..", "../../x", ".", "", "A", "a_b", "-a", "a-", "a/b", "x" * 64, "a b",
                                  "$(touch pwned)"])
@pytest.mark.parametrize("command", ["up", "down", "status", "env"])
def test_names_that_are_not_dns_labels_are_refused(capsys, state_home: Path, tmp_path: Path, monkeypatch,
                                                   name: str, command: str) -> None:
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "sandbox", command, "--name", name)
    assert code == 2, (out, err)
    assert err.startswith("error: --name") and "DNS label" in err and err.count("\n") == 1, err
    assert snapshot(tmp_path) == before  # nothing removed, nothing written (outside the state dir either)


def test_dns_label_names_are_accepted() -> None:
    for name in ("default", "demo", "a", "molecule", "rhoai-3-5", "x" * 63):
        assert S.validate_name(name) == name


def test_down_refuses_a_directory_it_did_not_create(capsys, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('hello')\n")
    # Even a directory that looks like a sandbox's (a state file, a control-plane dir) is not one.
    (project / "sandbox.json").write_text(json.dumps({"profile": "rhoai-2.25", "scenario": "fresh"}))
    (project / "controlplane").mkdir()
    before = snapshot(project)
    code, _, err = run(capsys, "sandbox", "down", "--state-dir", str(project))
    assert code == 2 and "not a sandbox directory" in err and err.count("\n") == 1, err
    assert snapshot(project) == before


def test_down_refuses_an_empty_directory_and_a_symlink(capsys, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(capsys, "sandbox", "down", "--state-dir", str(empty))[0] == 2
    assert empty.is_dir()
    real = tmp_path / "real"
    S.claim(real, "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    code, _, err = run(capsys, "sandbox", "down", "--state-dir", str(link))
    assert code == 2 and "symbolic link" in err
    assert link.is_symlink() and (real / S.MARKER_FILE).is_file()


@pytest.mark.parametrize("command", ["up", "down"])
def test_a_state_dir_that_is_a_file_is_refused(capsys, tmp_path: Path, monkeypatch, command: str) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    monkeypatch.setenv("LMEVAL_CONTROLPLANE_DIR", str(tmp_path / "no-binaries"))
    code, _, err = run(capsys, "sandbox", command, "--state-dir", str(target))
    assert code == 2 and "is a file" in err and "Traceback" not in err, err  # click's usage error
    assert target.read_text() == "mine\n"


def test_down_of_a_name_removes_only_that_sandbox(capsys, state_home: Path) -> None:
    root = state_home / "lmeval-setup" / "sandbox"
    code, out, err = run(capsys, "sandbox", "down", "--name", "alpha")
    assert code == 0, err
    assert "was not running" in out
    assert not (root / "alpha").exists() and (root / "beta" / "sandbox.json").is_file()
    assert (state_home / "lmeval-setup" / "precious.txt").read_text() == "keep me"
    # A second down is harmless.
    assert run(capsys, "sandbox", "down", "--name", "alpha")[0] == 0


def test_down_does_not_kill_a_process_group_that_is_not_the_sandboxs(capsys, tmp_path: Path) -> None:
    """A state file outlives its processes; the pid it names may by then be anything of the user's."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        box = tmp_path / "box"
        S.claim(box, "box")
        S.SandboxState("rhoai-2.25", "fresh", runner_pgid=stranger.pid, created=time.time()).save(box)
        (box / "controlplane").mkdir()
        (box / "controlplane" / "controlplane.json").write_text(json.dumps({
            "workdir": str(box / "controlplane"), "kubeconfig": "", "server": "",
            "pgids": {"etcd": stranger.pid}}))
        code, _, err = run(capsys, "sandbox", "down", "--state-dir", str(box))
        assert code == 0, err
        assert not box.exists()
        time.sleep(0.3)
        assert stranger.poll() is None, "down killed a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_up_refuses_a_directory_that_is_not_a_sandboxs_before_anything_else(capsys, tmp_path: Path,
                                                                            monkeypatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.md").write_text("mine\n")
    monkeypatch.setenv("LMEVAL_CONTROLPLANE_DIR", str(tmp_path / "no-binaries"))
    code, _, err = run(capsys, "sandbox", "up", "--state-dir", str(project))
    assert code == 2 and "not a sandbox directory" in err, err
    assert snapshot(project) == ["notes.md"]


def test_claim_makes_a_private_marked_directory_and_a_reclaim_empties_only_ours(tmp_path: Path) -> None:
    box = tmp_path / "a" / "b" / "box"
    S.claim(box, "box")
    assert stat.S_IMODE(box.stat().st_mode) == 0o700
    assert stat.S_IMODE((box / S.MARKER_FILE).stat().st_mode) == 0o600
    (box / "leftover").write_text("from a crashed sandbox")
    S.claim(box, "box")
    assert sorted(p.name for p in box.iterdir()) == [S.MARKER_FILE]


def test_state_file_is_private(tmp_path: Path) -> None:
    box = tmp_path / "box"
    S.claim(box, "box")
    S.SandboxState("rhoai-2.25", "fresh").save(box)
    assert stat.S_IMODE((box / S.STATE_FILE).stat().st_mode) == 0o600


def test_a_malformed_state_file_is_one_line_rc_2(capsys, tmp_path: Path) -> None:
    box = tmp_path / "box"
    S.claim(box, "box")
    (box / S.STATE_FILE).write_text("{not json")
    code, _, err = run(capsys, "sandbox", "status", "--state-dir", str(box))
    assert code == 2 and "not a sandbox state file" in err and err.count("\n") == 1


def test_env_output_is_shell_quoted(capsys, tmp_path: Path) -> None:
    """`eval "$(lmeval-setup sandbox env)"` must set KUBECONFIG to the path, and run nothing in it."""
    box = tmp_path / "it's a $(touch pwned) `touch pwned2`; dir"
    (box / "controlplane").mkdir(parents=True)
    (box / "controlplane" / "kubeconfig").write_text("apiVersion: v1\n")
    code, out, _ = run(capsys, "sandbox", "env", "--state-dir", str(box))
    assert code == 0
    shell = subprocess.run(["bash", "-c", 'eval "$1"; printf %s "$KUBECONFIG"', "-", out],
                           capture_output=True, text=True, cwd=tmp_path, timeout=10)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == str(box / "controlplane" / "kubeconfig")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_private_files_refuse_a_planted_symlink_and_fix_an_old_mode(tmp_path: Path) -> None:
    from lmeval_setup.sandbox.private import write_private

    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    link = tmp_path / "sa.key"
    link.symlink_to(target)
    with pytest.raises(OSError):
        write_private(link, b"secret")
    assert target.read_text() == "untouched"
    old = tmp_path / "old.key"
    old.write_bytes(b"x")
    old.chmod(0o644)
    write_private(old, b"secret")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.read_bytes() == b"secret"


def test_key_pairs_are_written_0600(tmp_path: Path) -> None:
    from lmeval_setup.sandbox.pki import TinyCA

    previous = os.umask(0o022)
    try:
        cert, key = TinyCA().client_cert("someone").write(tmp_path, "someone")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
