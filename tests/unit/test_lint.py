"""lint: positions, inputs (files, dirs, kustomize, stdin), robustness and the CLI contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lmeval_setup.lint import lint_paths, lint_text
from lmeval_setup.lint.loader import MAX_BYTES

DATA = Path(__file__).resolve().parent.parent / "data" / "lint"
REPO = Path(__file__).resolve().parents[2]


def expectations(path: Path) -> set[tuple[int, str]]:
    """(line, rule) pairs written in the fixture as '# expect: LME002'."""
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for rule_id in re.findall(r"expect: (LME\d{3})", line):
            out.add((number, rule_id))
    return out


FIXTURES = sorted(p for p in DATA.glob("*.yaml"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_each_mistake_is_reported_at_its_line(path: Path) -> None:
    result = lint_paths([str(path)])
    assert not result.errors
    found = {(f.target.line, f.rule_id) for f in result.findings if f.severity != "info"}
    expected = expectations(path)
    assert expected <= found, f"missing {expected - found}; found {sorted(found)}"
    # No error findings beyond the expected ones.
    unexpected = {(line, r) for line, r in found if (line, r) not in expected}
    assert not unexpected, unexpected


def test_seed_corrected_configuration_is_clean() -> None:
    result = lint_paths([str(DATA / "seed-good.yaml")])
    assert result.findings == [] and len(result.checked) == 1


def test_multi_document_skips_other_kinds() -> None:
    result = lint_paths([str(DATA / "multi-doc.yaml")])
    assert [t.name for t in result.checked] == ["second"]


def test_kustomize_overlay_points_at_patch_lines() -> None:
    overlay = DATA / "kustomize" / "overlays" / "dev"
    result = lint_paths([str(overlay)])
    assert not result.errors
    assert [(t.namespace, t.name) for t in result.checked] == [("private-ai-demo", "dev-granite-eval")]
    where = {f.rule_id: (Path(f.target.file or "").name, f.target.line) for f in result.findings}
    assert where["LME002"] == ("endpoint-patch.yaml", 8)  # strategic-merge patch file
    assert where["LME026"] == ("kustomization.yaml", 13)  # inline JSON 6902 patch
    assert where["LME003"] == ("job.yaml", 9)  # unchanged field of the base


def test_directory_lints_overlays_not_their_bases_and_skips_patch_files() -> None:
    result = lint_paths([str(DATA / "kustomize")])
    assert [t.name for t in result.checked] == ["dev-granite-eval"]
    assert not any("endpoint-patch" in (t.file or "") and t.name == "granite-eval" for t in result.checked)


def test_base_alone_is_clean() -> None:
    result = lint_paths([str(DATA / "kustomize" / "base")])
    assert result.findings == [] and len(result.checked) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"spec: [unclosed\n", "YAML syntax error"),
        (b"\x00\x01\x02binary", "binary file"),
        (b"\xff\xfe\xfa", "not valid UTF-16"),
        (b"a: \xc3\x28\n", "not UTF-8"),
        (b"a: &a [*a]\n", "recursive YAML anchor"),
        (b"kind: LMEvalJob\nkind: x\n\t bad", "YAML syntax error"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = lint_paths([str(path)])
    assert len(result.errors) == 1 and message in result.errors[0], result.errors
    assert str(path) in result.errors[0]


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kind: LMEvalJob\nspec:\n  model: [x\n")
    (error,) = lint_paths([str(path)]).errors
    assert re.search(r"bad\.yaml:\d+:\d+: YAML syntax error", error), error


def test_enormous_file_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    (error,) = lint_paths([str(path)]).errors
    assert "larger than" in error


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    result = lint_text("\n".join(lines))
    assert result.errors and "nodes" in result.errors[0]


def test_wrong_types_at_any_depth_do_not_crash() -> None:
    text = """
kind: LMEvalJob
apiVersion: trustyai.opendatahub.io/v1alpha1
metadata: {name: [1], labels: {a: 1}}
spec:
  model: {x: 1}
  modelArgs: {name: x}
  taskList: [1, 2]
  pod: {container: {env: [{name: 1, valueFrom: 3}], resources: {limits: {cpu: [1]}}}, volumes: "x"}
  outputs: 7
  offline: {storage: {s3: {path: 1}}}
"""
    result = lint_text(text)
    assert not result.errors
    assert {f.rule_id for f in result.findings} >= {"LME015"}


def test_duplicate_keys_are_reported() -> None:
    text = "kind: LMEvalJob\nmetadata: {name: d}\nspec:\n  model: hf\n  model: local-completions\n" \
           "  taskList: {taskNames: [gsm8k]}\n  allowOnline: true\n"
    result = lint_text(text)
    assert any(f.rule_id == "LME015" and "twice" in f.message and f.target.line == 5 for f in result.findings)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmeval_setup.cli.main", "lint", *args],
        input=stdin, capture_output=True, text=True, cwd=DATA, timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_cli_exit_codes_and_file_line_column() -> None:
    clean = _cli("seed-good.yaml")
    assert clean.returncode == 0, clean.stderr
    bad = _cli("seed-02-base-url.yaml")
    assert bad.returncode == 1
    assert "seed-02-base-url.yaml:17:14 error LME002 base-url-path" in bad.stdout
    assert "fix:" in bad.stdout
    ignored = _cli("seed-02-base-url.yaml", "--ignore", "base-url-path")
    assert ignored.returncode == 0, ignored.stdout
    info = _cli("seed-02-base-url.yaml", "--ignore", "LME002", "--fail-on", "info", "--ignore", "LME029")
    assert info.returncode == 0


def test_cli_stdin_json_and_unreadable_input() -> None:
    text = (DATA / "seed-04-tokenizer.yaml").read_text()
    out = _cli("-", "-o", "json", stdin=text)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["schema"] == "lmeval-setup/findings" and report["version"] == 1
    (finding,) = [f for f in report["findings"] if f["id"] == "LME004"]
    assert finding["file"] == {"path": "-", "line": 18, "column": 14}
    missing = _cli("does-not-exist.yaml", "seed-good.yaml")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    usage = _cli("seed-good.yaml", "--ignore", "LME999")
    assert usage.returncode == 2 and "unknown rule" in usage.stderr
    assert "Traceback" not in usage.stderr + missing.stderr


def test_cli_sarif_and_junit() -> None:
    sarif = json.loads(_cli("seed-03-chat-loglikelihood.yaml", "-o", "sarif").stdout)
    (result,) = sarif["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "seed-03-chat-loglikelihood.yaml"
    assert location["region"] == {"startLine": 15, "startColumn": 9}
    junit = _cli("seed-03-chat-loglikelihood.yaml", "seed-good.yaml", "-o", "junit").stdout
    assert 'failures="1"' in junit and "no findings" in junit


def test_lint_cli_does_not_import_kubernetes() -> None:
    code = (
        "import sys; from lmeval_setup.cli.main import main\n"
        "try:\n    main(['lint', 'seed-good.yaml'])\nexcept SystemExit:\n    pass\n"
        "assert 'kubernetes' not in sys.modules, 'kubernetes imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=DATA, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_pre_commit_hook_definition() -> None:
    import yaml

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "lmeval-lint" and hook["entry"] == "lmeval-setup lint"
    assert re.search(hook["files"], "jobs/eval.yaml") and re.search(hook["files"], "a.yml")


class _FakeKube:
    """get_or_none over a fixed set of existing paths; records reads (lint --cluster only reads)."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.reads: list[str] = []

    def get_or_none(self, path: str) -> dict[str, str] | None:
        self.reads.append(path)
        return {"path": path} if path in self.existing else None


def test_cluster_references_namespace_pvc_and_secrets() -> None:
    from lmeval_setup.lint.cluster import reference_findings

    text = (DATA / "seed-good.yaml").read_text().replace(
        "  pod:\n", "  outputs: {pvcName: results}\n  offline: {storage: {pvcName: hf-assets}}\n  pod:\n"
    )
    jobs = lint_text(text, "job.yaml").jobs
    kube = _FakeKube({"/api/v1/namespaces/private-ai-demo",
                      "/api/v1/namespaces/private-ai-demo/persistentvolumeclaims/results"})
    found = {(f.rule_id, f.evidence[0].path) for f in reference_findings(kube, jobs)}
    assert found == {
        ("LME025", "spec.offline.storage.pvcName"),
        ("LME022", "spec.pod.container.env[0].valueFrom.secretKeyRef.name"),
    }
    missing_ns = reference_findings(_FakeKube(set()), jobs)
    assert [(f.rule_id, f.evidence[0].path) for f in missing_ns] == [("LME015", "metadata.namespace")]


def test_only_the_text_of_files_with_lmevaljobs_is_kept(tmp_path: Path) -> None:
    """The text is kept for the findings' inline suppression comments, and only LMEvalJobs have findings: lint
    used to keep every file it read, so a tree of other manifests grew its memory by the tree's size
    (bench/lint_bench.py: +64 MiB for 36 MiB of ConfigMaps before, +0 after)."""
    job = (DATA / "seed-good.yaml").read_text()
    (tmp_path / "job.yaml").write_text(job)
    (tmp_path / "mixed.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + job)
    for i in range(3):
        (tmp_path / f"cm-{i}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n")
    result = lint_paths([str(tmp_path)])
    assert result.files == 5 and len(result.checked) == 2
    assert sorted(Path(f).name for f in result.sources) == ["job.yaml", "mixed.yaml"]
    assert lint_text(job, "-").sources == {"-": job}
