"""Score gates for CI: `task:metric>=value` (also <=, >, <), evaluated against a job's results.

Metric names are written the way people say them (`acc_norm`); lm-eval stores them with a filter
suffix (`acc_norm,none`), which `JobResult.metric` resolves. A gate whose metric is missing fails: a
gate that silently passes because a task was renamed would defeat its purpose.
"""

from __future__ import annotations

import operator
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

from lmeval_setup.errors import UsageError
from lmeval_setup.report.junit import xml_document
from lmeval_setup.results.model import JobResult

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_GATE = re.compile(
    r"^\s*(?P<task>[A-Za-z0-9._-]+)\s*:\s*(?P<metric>[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)?)\s*"
    r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Gate:
    task: str
    metric: str
    _: KW_ONLY
    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.task}:{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    actual: float | None
    _: KW_ONLY
    passed: bool
    message: str


def parse_gate(text: str) -> Gate:
    match = _GATE.match(text)
    if not match:
        raise UsageError(
            f"--gate {text!r} is not TASK:METRIC OP VALUE",
            hint="for example --gate 'arc_easy:acc_norm>=0.85' (operators >=, <=, >, <)",
        )
    return Gate(match["task"], match["metric"], op=match["op"], threshold=float(match["value"]))


def parse_gates(texts: Sequence[str]) -> list[Gate]:
    return [parse_gate(t) for t in texts]


def evaluate_gate(gate: Gate, result: JobResult) -> GateResult:
    if gate.task not in result.tasks:
        available = ", ".join(sorted(result.tasks)) or "none"
        return GateResult(gate, None, passed=False,
                          message=f"task {gate.task} is not in the results (tasks: {available})")
    value = result.metric(gate.task, gate.metric)
    if value is None:
        available = ", ".join(sorted(result.tasks[gate.task])) or "none"
        return GateResult(gate, None, passed=False,
                          message=f"{gate.task} has no metric {gate.metric} (metrics: {available})")
    passed = _OPERATORS[gate.op](value.value, gate.threshold)
    verdict = "passed" if passed else "FAILED"
    stderr = f" ± {value.stderr:.4f}" if value.stderr is not None else ""
    return GateResult(
        gate, value.value, passed=passed,
        message=f"{gate.text}: {verdict} ({gate.task} {gate.metric} = {value.value:.4f}{stderr})",
    )


def evaluate_gates(gates: Sequence[Gate], result: JobResult) -> list[GateResult]:
    return [evaluate_gate(g, result) for g in gates]


def gates_junit(results: Sequence[GateResult], *, job: str, suite: str = "lmeval-setup provision") -> str:
    """One test case per gate, a <failure> for each that failed (CI test reporters show them)."""
    cases = ET.Element("testsuite", name=suite, tests=str(len(results)),
                       failures=str(sum(not r.passed for r in results)), errors="0")
    for r in results:
        case = ET.SubElement(cases, "testcase", classname=job, name=r.gate.text)
        if r.passed:
            ET.SubElement(case, "system-out").text = r.message
        else:
            failure = ET.SubElement(case, "failure", type="gate", message=r.message)
            failure.text = r.message
    root = ET.Element("testsuites", name=suite, tests=cases.get("tests", "0"),
                      failures=cases.get("failures", "0"), errors="0")
    root.append(cases)
    return xml_document(root)


def error_junit(message: str, *, job: str, gates: Sequence[Gate], suite: str = "lmeval-setup provision") -> str:
    """When the job never produced results, every gate is an error case carrying the reason."""
    root_suite = ET.Element("testsuite", name=suite, tests=str(max(len(gates), 1)), failures="0",
                            errors=str(max(len(gates), 1)))
    for name in [g.text for g in gates] or ["evaluation"]:
        case = ET.SubElement(root_suite, "testcase", classname=job, name=name)
        ET.SubElement(case, "error", type="job", message=message[:500]).text = message
    root = ET.Element("testsuites", name=suite, tests=root_suite.get("tests", "0"), failures="0",
                      errors=root_suite.get("errors", "0"))
    root.append(root_suite)
    return xml_document(root)
