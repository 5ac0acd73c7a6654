"""-l/--selector on lint and results (issue 14 item 3): the same kubectl label-selector semantics as doctor -l.

lint lints only the LMEvalJob documents whose metadata.labels match (the others are skipped as other kinds
are); results shows only matching jobs, and a named job must match. A selector kubectl would refuse is a
usage error (exit 2, one line) before any file or cluster is read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from results_samples import completed_job, results_document

from lmeval_setup.cli.lint import lint
from lmeval_setup.errors import UsageError
from lmeval_setup.results.fetch import fetch_results


def _manifest(name: str, labels: dict[str, str] | None) -> str:
    label_lines = "".join(f"    {k}: {v}\n" for k, v in (labels or {}).items())
    return (f"apiVersion: trustyai.opendatahub.io/v1alpha1\nkind: LMEvalJob\nmetadata:\n  name: {name}\n"
            + ("  labels:\n" + label_lines if labels else "")
            + "spec:\n  model: local-completions\n  allowOnline: true\n  batchSize: \"1\"\n"
              "  taskList:\n    taskNames: [arc_easy]\n  modelArgs:\n    - name: model\n      value: granite\n"
              "    - name: base_url\n      value: http://granite-predictor:8080/v1\n"  # LME002 in every job
              "    - name: tokenizer\n      value: ibm-granite/granite-3.1-8b-instruct\n")


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    docs = [_manifest("team-a-fp16", {"team": "a", "tier": "1"}), _manifest("team-b", {"team": "b"}),
            _manifest("unlabelled", None)]
    (tmp_path / "jobs.yaml").write_text("---\n".join(docs))
    return tmp_path / "jobs.yaml"


def _lint(*args: str) -> Any:
    return CliRunner().invoke(lint, list(args), catch_exceptions=False)


def _linted_jobs(output: str) -> set[str]:
    return {f["target"]["name"] for f in json.loads(output)["findings"]}


@pytest.mark.parametrize(("selector", "expected"), [
    ("team=a", {"team-a-fp16"}),
    ("team!=a", {"team-b", "unlabelled"}),  # kubectl: != also matches jobs without the label
    ("team in (a,b)", {"team-a-fp16", "team-b"}),
    ("!team", {"unlabelled"}),
    ("team,tier>0", {"team-a-fp16"}),
])
def test_lint_selector_narrows_the_documents_linted(manifests: Path, selector: str, expected: set[str]) -> None:
    done = _lint(str(manifests), "-o", "json", "-l", selector)
    assert done.exit_code == 1, done.output
    assert _linted_jobs(done.output) == expected


def test_lint_selector_matching_nothing_checks_nothing(manifests: Path) -> None:
    done = _lint(str(manifests), "--selector", "team=z")
    assert done.exit_code == 0, done.output
    assert "no LMEvalJob documents found matching -l team=z" in done.output


def _exit_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The installed entry point's exit code and stderr (it maps a UsageError to 2 and one line)."""
    from lmeval_setup.cli.main import main

    with pytest.raises(SystemExit) as ended:
        main(argv)
    return int(ended.value.code or 0), capsys.readouterr().err


def test_lint_refuses_a_selector_kubectl_refuses(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_of(["lint", str(manifests), "-l", "team in ()"], capsys)
    assert code == 2 and "-l/--selector" in err and len(err.strip().splitlines()) == 1, err


class _Jobs:
    """The two reads fetch_results makes (GET by name, LIST), over fixed jobs."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs

    def get_or_none(self, path: str) -> dict[str, Any] | None:
        namespace, name = path.split("/namespaces/")[1].split("/lmevaljobs/")
        return next((j for j in self.jobs if j["metadata"]["name"] == name
                     and j["metadata"]["namespace"] == namespace), None)

    def list_items(self, path: str, **_: Any) -> Iterator[dict[str, Any]]:
        namespace = path.split("/namespaces/")[1].split("/")[0] if "/namespaces/" in path else None
        return iter([j for j in self.jobs if namespace in (None, j["metadata"]["namespace"])])


def _labelled(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    job = completed_job(name, namespace, results_document(name, 0.8, 0.7))
    job["metadata"]["labels"] = labels
    return job


@pytest.fixture
def cluster() -> Any:
    return _Jobs([_labelled("fp16", "demo", {"team": "granite"}), _labelled("w4a16", "demo", {"team": "granite"}),
                  _labelled("llama", "demo", {"team": "llama"}), _labelled("other", "ci", {"team": "granite"})])


def test_results_selector_keeps_matching_jobs(cluster: Any) -> None:
    assert [r.job for r in fetch_results(cluster, "demo", [], selector="team=granite")] == ["fp16", "w4a16"]
    assert [r.job for r in fetch_results(cluster, None, [], selector="team=granite")] == ["other", "fp16", "w4a16"]
    assert [r.job for r in fetch_results(cluster, "demo", [], selector="team notin (granite)")] == ["llama"]


def test_results_named_job_must_match_the_selector(cluster: Any) -> None:
    assert [r.job for r in fetch_results(cluster, "demo", ["fp16"], selector="team=granite")] == ["fp16"]
    with pytest.raises(UsageError, match=r"LMEvalJob demo/llama does not match -l team=granite"):
        fetch_results(cluster, "demo", ["llama"], selector="team=granite")
    with pytest.raises(UsageError, match=r"does not match -l team=granite"):
        fetch_results(cluster, None, ["llama"], selector="team=granite")


def test_results_selector_matching_nothing_is_a_usage_error(cluster: Any) -> None:
    with pytest.raises(UsageError, match=r"no completed LMEvalJobs with results in namespace demo matching -l team=x"):
        fetch_results(cluster, "demo", [], selector="team=x")


def test_results_refuses_a_bad_selector_before_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))  # read it and the exit would be 3, not 2
    code, err = _exit_of(["results", "-n", "demo", "-l", "a in ()"], capsys)
    assert code == 2 and "-l/--selector" in err and len(err.strip().splitlines()) == 1, err
