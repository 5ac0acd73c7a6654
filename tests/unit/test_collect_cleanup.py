"""`doctor --collect DIR` prepares DIR before reading the cluster (so a bad target is refused first); when
the read then fails, the directories it created must not be left behind, empty, for the admin to find."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from lmeval_setup.cli.main import main


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose server is a local port nobody listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ken-for-the-test"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    return path


def doctor_exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def test_a_failed_read_leaves_no_directory_it_created(tmp_path: Path) -> None:
    target = tmp_path / "new" / "collected"
    code = doctor_exit(["doctor", "--kubeconfig", str(unreachable_kubeconfig(tmp_path)), "-n", "demo",
                        "--collect", str(target)])
    assert code == 3
    assert not target.exists() and not target.parent.exists()


def test_a_failed_read_keeps_the_empty_directory_the_admin_made(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    code = doctor_exit(["doctor", "--kubeconfig", str(unreachable_kubeconfig(tmp_path)), "-n", "demo",
                        "--collect", str(target)])
    assert code == 3 and target.is_dir() and not any(target.iterdir())
