"""Fuzz: lint never crashes, whatever the YAML or structure (LMEVAL_SOAK=1 for 10,000 examples)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmeval_setup.lint import lint_text
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.report import render
from lmeval_setup.rules.spec import spec_findings

# `make test` runs 300 examples per test; `make soak` (the soak tier: -m "slow or soak", LMEVAL_SOAK=1) 10,000.
pytestmark = pytest.mark.soak
EXAMPLES = 10_000 if os.environ.get("LMEVAL_SOAK") else 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

KEYS = st.sampled_from([
    "spec", "model", "modelArgs", "name", "value", "taskList", "taskNames", "taskRecipes", "template",
    "card", "batchSize", "limit", "pod", "container", "env", "valueFrom", "secretKeyRef", "offline",
    "storage", "pvcName", "allowOnline", "chatTemplate", "enabled", "metadata", "kind", "x", "$patch",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["local-completions", "local-chat-completions", "hf", "arc_easy", "granite", "$X",
                     "http://h:8080/v1", "auto:4", "0.5", "<secret>", "sk-abcdefghijklmnopqrstu"]),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=30,
)


def _job(tree: Any) -> dict[str, Any]:
    return {"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
            "metadata": {"name": "f"}, "spec": tree}


@FUZZ
@given(TREES, st.booleans(), st.booleans())
def test_spec_rules_never_crash(tree: Any, online: bool, code: bool) -> None:
    findings = spec_findings(_job(tree), Permissions(online, code))
    for fmt in ("json", "sarif"):
        render(findings, fmt, tool="lint")


@FUZZ
@given(TREES)
def test_lint_of_dumped_structures_never_crashes(tree: Any) -> None:
    try:
        text = yaml.safe_dump(_job(tree))
    except (yaml.YAMLError, ValueError):
        return
    result = lint_text(text)
    for f in result.findings:
        assert f.target.line is not None and f.target.line >= 1


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("kind: LMEvalJob\n spec-[]{},&*!|>'\"#%@`?:0x\t")), max_size=300))
def test_lint_of_arbitrary_text_never_crashes(text: str) -> None:
    result = lint_text("kind: LMEvalJob\n" + text)
    assert isinstance(result.errors, list)


@FUZZ
@given(st.text(max_size=200))
def test_lint_of_unicode_text_never_crashes(text: str) -> None:
    lint_text(text)
