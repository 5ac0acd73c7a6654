"""results: parsing lm-eval documents, the table in every format, --compare deltas and the plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from results_samples import completed_job, results_document

from lmeval_setup.errors import UsageError
from lmeval_setup.results.model import job_result, model_name, parse_results_document
from lmeval_setup.results.table import compare, format_seconds, render, render_compare


@pytest.fixture()
def full() -> object:
    return job_result(completed_job("granite-fp16", "demo", results_document("granite-fp16", 0.80, 0.76, 900)))


@pytest.fixture()
def quantized() -> object:
    return job_result(completed_job("granite-w4a16", "demo", results_document("granite-w4a16", 0.75, 0.75, 600)))


def test_metrics_pair_values_with_stderr_and_drop_filter_suffix(full) -> None:
    arc = full.tasks["arc_easy"]
    assert arc["acc_norm"].value == pytest.approx(0.80)
    assert arc["acc_norm"].stderr == pytest.approx(0.0101)
    assert full.metric("arc_easy", "acc_norm,none") == arc["acc_norm"]
    assert full.primary_metric("arc_easy") == "acc_norm"
    assert full.seconds == pytest.approx(900)
    assert full.model == "granite-fp16"


def test_non_default_filters_and_missing_stderr_are_kept() -> None:
    doc = {"results": {"gsm8k": {"exact_match,strict-match": 0.4, "exact_match_stderr,strict-match": "N/A",
                                 "exact_match,flexible-extract": 0.5}}}
    result = parse_results_document(doc, job="j", namespace="n")
    assert result.tasks["gsm8k"]["exact_match,strict-match"].stderr is None
    assert result.tasks["gsm8k"]["exact_match,flexible-extract"].value == 0.5


def test_model_name_from_string_or_dict_model_args() -> None:
    assert model_name({"config": {"model_args": "model=granite,base_url=http://x/v1/completions"}}) == "granite"
    assert model_name({"config": {"model_args": {"pretrained": "gpt2"}}}) == "gpt2"
    assert model_name({}) is None


def test_job_without_results_is_a_usage_error() -> None:
    job = {"metadata": {"name": "j", "namespace": "n"}, "status": {"state": "Complete", "reason": "Failed"}}
    with pytest.raises(UsageError, match=r"no results .*Complete/Failed"):
        job_result(job)


def test_table_shows_model_metric_stderr_and_time(full, quantized) -> None:
    text = render([full, quantized], "table")
    header, _rule, first, second = text.splitlines()
    assert header.split()[:3] == ["job", "model", "arc_easy"]
    assert "hellaswag acc_norm" in header and header.rstrip().endswith("time")
    assert "0.8000 ± 0.0101" in first and "15m00s" in first
    assert "granite-w4a16" in second and "10m00s" in second


def test_markdown_is_a_github_table(full) -> None:
    lines = render([full], "markdown").splitlines()
    assert lines[0].startswith("| job | model | arc_easy acc_norm")
    assert lines[1].startswith("|---|---|---:")
    assert lines[2].count("|") == lines[0].count("|")


def test_csv_keeps_numbers_raw(full, quantized) -> None:
    rows = list(csv.DictReader(io.StringIO(render([full, quantized], "csv"))))
    assert float(rows[0]["arc_easy:acc_norm"]) == pytest.approx(0.80)
    assert float(rows[0]["arc_easy:acc_norm_stderr"]) == pytest.approx(0.0101)
    assert float(rows[1]["seconds"]) == pytest.approx(600)


def test_json_is_versioned_and_complete(full) -> None:
    data = json.loads(render([full], "json"))
    assert data["schema"] == "lmeval-setup/results" and data["version"] == 1
    assert data["jobs"][0]["tasks"]["hellaswag"]["acc"]["stderr"] == pytest.approx(0.0049)


def test_metric_choice_applies_to_every_task(full) -> None:
    assert "arc_easy acc " in render([full], "table", metric="acc").splitlines()[0] + " "


def test_compare_gives_b_minus_a_with_significance(full, quantized) -> None:
    deltas = {d.column.task: d for d in compare(full, quantized)}
    assert deltas["arc_easy"].delta == pytest.approx(-0.05)
    assert deltas["arc_easy"].relative == pytest.approx(-0.0625)
    assert deltas["arc_easy"].significant is True  # 0.05 > 2 * sqrt(2) * 0.0101
    assert deltas["hellaswag"].significant is False  # 0.01 < 2 * sqrt(2) * 0.0042
    text = render_compare(full, quantized, "table")
    assert "-0.0500" in text and "-6.3%" in text
    assert "-5m00s" in text  # the quantized model finished 5 minutes sooner
    assert json.loads(render_compare(full, quantized, "json"))["deltas"][0]["delta"] == pytest.approx(-0.05)
    assert render_compare(full, quantized, "markdown").startswith("**A** = granite-fp16")


def test_seconds_format() -> None:
    assert format_seconds(59.6) == "1m00s"
    assert format_seconds(3725) == "1h02m05s"
    assert format_seconds(None) == "-"


def test_plot_writes_png_and_svg(full, quantized, tmp_path: Path) -> None:
    from lmeval_setup.results.plot import write_plot

    png = write_plot([full, quantized], tmp_path / "cmp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = write_plot([full, quantized], tmp_path / "cmp.svg")
    assert "<svg" in svg.read_text()[:500]
    with pytest.raises(UsageError):
        write_plot([full], tmp_path / "cmp.jpg")


def test_a_model_name_is_shown_never_obeyed_by_the_terminal(full, quantized) -> None:
    """A job's spec may name its model anything, an escape sequence too: the table and the comparison show it
    escaped (the raw ESC used to reach the terminal); CSV and JSON keep the data as it is."""
    import dataclasses

    hostile = dataclasses.replace(full, model="granite\x1b[2J\x9b31m")
    for text in (render([hostile, quantized], "table"), render([hostile], "markdown"),
                 render_compare(hostile, quantized, "table")):
        assert "\x1b" not in text and "\x9b" not in text and "granite\\x1b[2J\\x9b31m" in text, text
    assert "granite\x1b[2J" in render([hostile], "csv")
