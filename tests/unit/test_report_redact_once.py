"""A JSON/YAML report redacts each distinct text once: 200 jobs from one template failing alike repeat
one message and one log line, and the document is the same as with every text redacted on its own."""

from __future__ import annotations

import pytest

from lmeval_setup.report import jsonfmt
from lmeval_setup.rules.finding import Evidence, Finding, Target

SECRET_LINE = "requests.exceptions.HTTPError: 401 Client Error for url: http://m/v1?api_key=sk-abcdefghijklmnopqrstu"


def _findings(n: int) -> list[Finding]:
    return [Finding("LME007", Target(kind="LMEvalJob", name=f"eval-{i:03d}", namespace="ns"),
                    message="the model endpoint answered 401 (Unauthorized) token=hunter2hunter2",
                    evidence=(Evidence("log", SECRET_LINE, path=f"pod/eval-{i:03d}/main", line=3),))
            for i in range(n)]


def test_each_distinct_text_is_redacted_once_and_the_document_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = _findings(200)
    alone = {**jsonfmt.report_dict([], tool="doctor", errors=["x"]),
             "findings": [jsonfmt.finding_to_dict(f) for f in findings], "summary": {"error": 200, "warning": 0,
                                                                                     "info": 0}}
    seen: list[str] = []
    real = jsonfmt.redact_text

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(jsonfmt, "redact_text", counting)
    document = jsonfmt.report_dict(findings, tool="doctor", errors=["x"])
    assert document == alone
    assert sorted(seen) == sorted({findings[0].message, SECRET_LINE, "x"})
    assert "sk-abcdefghijklmnopqrstu" not in str(document) and "hunter2hunter2" not in str(document)
