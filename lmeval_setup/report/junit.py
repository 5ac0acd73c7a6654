"""JUnit XML: one test case per (rule, object); a failure for findings at or above --fail-on.

CI systems (GitLab, Jenkins, GitHub test reporters) show each case; objects or files that were
checked and had no finding appear as one passing case each, so the report shows coverage too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from lmeval_setup.redact import printable, redact_text
from lmeval_setup.rules.catalog import Severity
from lmeval_setup.rules.finding import Finding, Target


def _object_label(target: Target) -> str:
    if target.file:
        name = f" {target.kind}/{target.name}" if target.kind and target.name else ""
        return f"{target.file}{name}"
    return target.label()


def render_junit(
    findings: Sequence[Finding],
    *,
    tool: str,
    fail_on: Severity = "error",
    checked: Sequence[Target] = (),
    errors: Sequence[str] = (),
) -> str:
    cases: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        cases.setdefault((_object_label(f.target), f.rule_id), []).append(f)

    suite = ET.Element("testsuite", name=tool)
    failures = 0
    for (obj, rule_id), members in cases.items():
        rule = members[0].rule
        case = ET.SubElement(suite, "testcase", classname=obj, name=f"{rule_id} {rule.slug}")
        failing = [f for f in members if f.at_least(fail_on) and f.suppression is None]
        body = "\n\n".join(_describe(f) for f in members)
        if all(f.suppression is not None for f in members):
            reasons = "; ".join(dict.fromkeys(f"{f.suppression.reason} ({f.suppression.source})"
                                              for f in members if f.suppression))
            ET.SubElement(case, "skipped", message=redact_text(f"suppressed: {reasons}")[:500]).text = body
        elif failing:
            failures += 1
            worst = max(failing, key=lambda f: ("info", "warning", "error").index(f.severity))
            failure = ET.SubElement(
                case, "failure", type=worst.severity, message=redact_text(worst.message)[:500]
            )
            failure.text = body
        else:
            ET.SubElement(case, "system-out").text = body

    seen = {obj for obj, _ in cases}
    for target in checked:
        obj = _object_label(target)
        if obj not in seen:
            seen.add(obj)
            ET.SubElement(suite, "testcase", classname=obj, name="no findings")

    error_count = 0
    for message in errors:
        error_count += 1
        case = ET.SubElement(suite, "testcase", classname=tool, name="input")
        ET.SubElement(case, "error", message=redact_text(message)[:500]).text = redact_text(message)

    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(error_count))
    suites = ET.Element("testsuites", name=tool, tests=suite.get("tests", "0"),
                        failures=str(failures), errors=str(error_count))
    suites.append(suite)
    return xml_document(suites)


def xml_document(root: ET.Element) -> str:
    """A JUnit report as text: every text and attribute printable (XML 1.0 has no place for most control
    characters, so one in a file name or a log line made the whole report unreadable), indented, declared."""
    for element in root.iter():
        if element.text:
            element.text = printable(element.text)
        if element.tail:
            element.tail = printable(element.tail)
        for key, value in element.attrib.items():
            element.set(key, printable(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _describe(f: Finding) -> str:
    rule = f.rule
    lines = [f"{f.target.label()}: {f.severity} {rule.id} {rule.slug}: {redact_text(f.message)}"]
    lines.extend(f"  {ev.path or ev.source}: {redact_text(ev.text)}" for ev in f.evidence)
    lines.append(f"fix: {rule.fix}")
    lines.append(f"docs: {rule.docs}")
    if f.suppression is not None:
        lines.append(f"suppressed: {redact_text(f.suppression.reason)} ({f.suppression.source})")
    return "\n".join(lines)
