"""lint --fix (issue 19 item 2): byte-exact rewrites of the project's broken examples, a kustomize overlay and a
file full of comments, compared with expected files; idempotent; the fixed rules no longer fire."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmeval_setup.cli.lint import lint

REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data"
EXPECTED = DATA / "fix" / "expected"
INPUTS = ["examples", "lint", "commented.yaml", "mixed-indentation.yaml", "kustomize/overlays/prod"]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inputs laid out as the expected tree names them, in a scratch working directory."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / "lint").mkdir()
    for seed in sorted((DATA / "lint").glob("seed-*.yaml")):
        shutil.copy(seed, tmp_path / "lint" / seed.name)
    shutil.copytree(DATA / "fix" / "input", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(*args: str) -> object:
    return CliRunner().invoke(lint, list(args), catch_exceptions=False)


def test_fix_rewrites_only_the_fixed_values(tree: Path) -> None:
    before = _snapshot(tree)
    result = _run("--fix", *INPUTS)
    assert result.exit_code in (0, 1), result.output  # type: ignore[attr-defined]
    after = _snapshot(tree)
    expected = {str(p.relative_to(EXPECTED)): p.read_bytes() for p in sorted(EXPECTED.rglob("*")) if p.is_file()}
    assert expected, "expected files missing"
    for name, content in after.items():
        assert content == expected.get(name, before[name]), name
    # the file lint cannot rewrite faithfully is left alone, and the user is told
    assert after["mixed-indentation.yaml"] == before["mixed-indentation.yaml"]
    assert "mixed-indentation.yaml: mixed: not fixed" in result.output  # type: ignore[attr-defined]


def test_fix_is_idempotent_and_the_fixed_rules_no_longer_fire(tree: Path) -> None:
    _run("--fix", *INPUTS)
    once = _snapshot(tree)
    again = _run("--fix", *INPUTS)
    assert _snapshot(tree) == once
    assert "fixed " not in again.output  # type: ignore[attr-defined]
    report = _run("-o", "json", *INPUTS)
    fired = {(f["file"]["path"], f["id"]) for f in _findings(report.output)}  # type: ignore[attr-defined]
    fixed = {"LME001", "LME002", "LME003", "LME004", "LME005"}
    # what is left is only the file that could not be rewritten
    assert {(file, rule) for file, rule in fired if rule in fixed} <= {("mixed-indentation.yaml", "LME002")}, fired


def _findings(text: str) -> list[dict]:  # type: ignore[type-arg]
    import json

    doc = json.loads(text)
    return list(doc["findings"])


def test_diff_prints_and_writes_nothing(tree: Path) -> None:
    before = _snapshot(tree)
    result = _run("--fix", "--diff", "lint/seed-02-base-url.yaml")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "+      value: http://granite-predictor.private-ai-demo.svc.cluster.local:8080/v1/completions  # expect: " \
        in result.output  # type: ignore[attr-defined]
    assert _snapshot(tree) == before
    clean = _run("--fix", "--diff", "lint/seed-good.yaml")
    assert clean.exit_code == 0 and clean.output.strip().startswith("lint:")  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [["--diff", "lint"], ["--fix", "-"]])
def test_diff_without_fix_and_fix_of_stdin_are_usage_errors(tree: Path, args: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from lmeval_setup.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["lint", *args])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback


def test_without_the_fix_extra_lint_fix_is_one_line_rc_4(tree: Path) -> None:
    """ruamel.yaml is the `fix` extra: the base install (the pre-commit hook) stays click + PyYAML."""
    import subprocess
    import sys

    script = ("import sys\nsys.modules['ruamel'] = None\nsys.modules['ruamel.yaml'] = None\n"
              "from lmeval_setup.cli.main import main\nmain(sys.argv[1:])\n")
    done = subprocess.run([sys.executable, "-c", script, "lint", "--fix", "lint/seed-02-base-url.yaml"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "lmeval-setup[fix]" in done.stderr
    plain = subprocess.run([sys.executable, "-c", script, "lint", "lint/seed-good.yaml"],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr  # lint itself does not need it


def test_suppressed_and_ignored_rules_are_not_fixed(tree: Path) -> None:
    path = tree / "lint" / "seed-02-base-url.yaml"
    text = path.read_text().replace("# expect: LME002", "# lmeval-setup: ignore=LME002 -- staging has no path")
    path.write_text(text)
    _run("--fix", "lint/seed-02-base-url.yaml")
    assert path.read_text() == text
    _run("--fix", "--ignore", "LME001", "lint/seed-01-offline.yaml")
    original = (DATA / "lint" / "seed-01-offline.yaml").read_bytes()
    assert (tree / "lint" / "seed-01-offline.yaml").read_bytes() == original


def test_a_linked_manifest_is_not_rewritten_and_the_user_is_told(tree: Path) -> None:
    """Replacing the name would turn the link into a fixed copy and leave what it names broken: the old writer
    did exactly that, silently."""
    target = tree / "lint" / sorted(p.name for p in (tree / "lint").glob("seed-*.yaml"))[0]
    link = tree / "linked.yaml"
    link.symlink_to(target)
    before = target.read_bytes()
    result = _run("--fix", "linked.yaml")
    assert link.is_symlink() and target.read_bytes() == before
    assert f"linked.yaml: not fixed: a symbolic link (fix what it names, {target})" in result.output  # type: ignore[attr-defined]
    assert "fixed linked.yaml" not in result.output  # type: ignore[attr-defined]


def test_fix_keeps_each_files_mode(tree: Path) -> None:
    seeds = sorted((tree / "lint").glob("seed-*.yaml"))
    seeds[0].chmod(0o640)
    _run("--fix", "lint")
    assert (seeds[0].stat().st_mode & 0o777) == 0o640
