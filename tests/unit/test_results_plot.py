"""`results --plot`: every error is known before the cluster is asked or a table printed; no directory created.

The kubeconfig points at a port nobody listens on: were the plot checked after fetching, these would
exit 3 (unreachable) instead of naming the --plot problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from lmeval_setup.cli.main import main


@pytest.fixture
def dead_kubeconfig(tmp_path: Path) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def test_plot_into_a_missing_directory_creates_nothing(capsys, tmp_path: Path, dead_kubeconfig: Path) -> None:
    target = tmp_path / "nonexistent" / "deeper" / "x.png"
    code, out, err = run(capsys, "results", "-n", "ns", "--plot", str(target), "--kubeconfig", str(dead_kubeconfig))
    assert code == 2 and out == "", (out, err)
    assert "does not exist" in err and err.count("\n") == 1, err
    assert not (tmp_path / "nonexistent").exists()


def test_plot_with_a_bad_extension_fails_first(capsys, tmp_path: Path, dead_kubeconfig: Path) -> None:
    code, out, err = run(capsys, "results", "-n", "ns", "--plot", str(tmp_path / "x.jpg"),
                         "--kubeconfig", str(dead_kubeconfig))
    assert code == 2 and out == "" and ".png or .svg" in err, (out, err)


def test_plot_without_matplotlib_fails_first(capsys, monkeypatch, tmp_path: Path, dead_kubeconfig: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    code, out, err = run(capsys, "results", "-n", "ns", "--plot", str(tmp_path / "x.png"),
                         "--kubeconfig", str(dead_kubeconfig))
    assert code == 4 and out == "" and "matplotlib" in err and err.count("\n") == 1, (out, err)


def test_plot_onto_a_directory_is_refused(capsys, tmp_path: Path, dead_kubeconfig: Path) -> None:
    (tmp_path / "d.png").mkdir()
    code, out, err = run(capsys, "results", "-n", "ns", "--plot", str(tmp_path / "d.png"),
                         "--kubeconfig", str(dead_kubeconfig))
    assert code == 2 and out == "" and "is a directory" in err, (out, err)


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_plot_onto_a_fifo_or_a_link_is_refused_first(capsys, tmp_path: Path, dead_kubeconfig: Path,
                                                     kind: str) -> None:
    """savefig opened the FIFO and waited for a reader forever, and wrote through a link to wherever it pointed."""
    import os

    target = tmp_path / "x.png"
    os.mkfifo(target) if kind == "fifo" else target.symlink_to(tmp_path / "elsewhere.png")
    code, out, err = run(capsys, "results", "-n", "ns", "--plot", str(target), "--kubeconfig", str(dead_kubeconfig))
    assert code == 2 and out == "" and err.count("\n") == 1 and "not a regular file" in err, (out, err)
    assert not (tmp_path / "elsewhere.png").exists()


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_write_plot_replaces_a_file_whole_in_the_format_its_name_says(tmp_path: Path, suffix: str,
                                                                     magic: bytes) -> None:
    from lmeval_setup.results.model import JobResult, MetricValue
    from lmeval_setup.results.plot import write_plot

    target = tmp_path / f"scores{suffix}"
    target.write_bytes(b"an earlier plot")
    result = JobResult(job="j", namespace="ns", model="m", seconds=10.0,
                       tasks={"arc_easy": {"acc": MetricValue(0.5, 0.01)}})
    write_plot([result], target)
    assert target.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_write_plot_never_creates_directories(tmp_path: Path) -> None:
    from lmeval_setup.errors import UsageError
    from lmeval_setup.results.model import JobResult, MetricValue
    from lmeval_setup.results.plot import write_plot

    result = JobResult(job="j", namespace="ns", model="m", seconds=10.0,
                       tasks={"arc_easy": {"acc": MetricValue(0.5, 0.01)}})
    with pytest.raises(UsageError):
        write_plot([result], tmp_path / "missing" / "x.png")
    assert not (tmp_path / "missing").exists()
