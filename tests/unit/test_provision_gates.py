"""provision gates: parsing, evaluation against results, and the JUnit report (one case per gate)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from results_samples import completed_job, results_document

from lmeval_setup.errors import UsageError
from lmeval_setup.provision.gates import Gate, error_junit, evaluate_gates, gates_junit, parse_gate
from lmeval_setup.results.model import job_result


@pytest.mark.parametrize(("text", "expected"), [
    ("arc_easy:acc_norm>=0.85", Gate("arc_easy", "acc_norm", op=">=", threshold=0.85)),
    ("hellaswag:acc<=0.9", Gate("hellaswag", "acc", op="<=", threshold=0.9)),
    (" mmlu : acc > .5 ", Gate("mmlu", "acc", op=">", threshold=0.5)),
    ("wikitext:word_perplexity<20", Gate("wikitext", "word_perplexity", op="<", threshold=20.0)),
    ("gsm8k:exact_match,strict-match>=0.3", Gate("gsm8k", "exact_match,strict-match", op=">=", threshold=0.3)),
    ("arc_easy:acc_norm>=1e-1", Gate("arc_easy", "acc_norm", op=">=", threshold=0.1)),
])
def test_parse(text: str, expected: Gate) -> None:
    assert parse_gate(text) == expected


@pytest.mark.parametrize("text", ["arc_easy>=0.8", "arc_easy:acc_norm=0.8", "arc_easy:acc_norm>=high",
                                  "arc_easy:acc_norm=>0.8", ":acc>=1", "arc easy:acc>=1"])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(UsageError, match="TASK:METRIC OP VALUE"):
        parse_gate(text)


@pytest.fixture()
def result():
    return job_result(completed_job("ci", "ns", results_document("granite", 0.80, 0.76)))


def test_evaluate_each_operator(result) -> None:
    gates = [parse_gate(t) for t in ("arc_easy:acc_norm>=0.8", "arc_easy:acc_norm>0.8",
                                     "hellaswag:acc<=0.71", "hellaswag:acc<0.71")]
    assert [v.passed for v in evaluate_gates(gates, result)] == [True, False, True, False]


def test_metric_names_map_to_lm_eval_keys(result) -> None:
    (verdict,) = evaluate_gates([parse_gate("arc_easy:acc_norm,none>=0.5")], result)
    assert verdict.passed and verdict.actual == pytest.approx(0.80)


def test_missing_task_or_metric_fails_and_says_what_exists(result) -> None:
    task, metric = evaluate_gates([parse_gate("mmlu:acc>=0.1"), parse_gate("arc_easy:f1>=0.1")], result)
    assert not task.passed and "arc_easy, hellaswag" in task.message
    assert not metric.passed and "acc, acc_norm" in metric.message


def test_junit_has_one_case_per_gate_and_a_failure_for_each_failed(result) -> None:
    verdicts = evaluate_gates([parse_gate("arc_easy:acc_norm>=0.5"), parse_gate("arc_easy:acc_norm>=0.95")], result)
    root = ET.fromstring(gates_junit(verdicts, job="ci"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["arc_easy:acc_norm>=0.5", "arc_easy:acc_norm>=0.95"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "FAILED" in failure.get("message", "") and "0.8000" in failure.get("message", "")


def test_error_junit_marks_every_gate_as_error() -> None:
    root = ET.fromstring(error_junit("job failed: LME002", job="ci", gates=[parse_gate("arc_easy:acc>=0.5")]))
    case = root.find("testsuite/testcase")
    assert case is not None and case.find("error") is not None
    no_gates = ET.fromstring(error_junit("x", job="ci", gates=[]))
    assert no_gates.find("testsuite/testcase[@name='evaluation']") is not None


def test_junit_stays_xml_whatever_the_job_said() -> None:
    """The job's failure message comes from its log: a control character in it made the report unparsable."""
    text = error_junit("Error: \x1b[31mconnection refused\x1b[0m\x00", job="j", gates=[parse_gate("arc_easy:acc>=0.5")])
    error = ET.fromstring(text.split("\n", 1)[1]).find(".//error")
    assert error is not None and error.text == "Error: \\x1b[31mconnection refused\\x1b[0m\\x00"
