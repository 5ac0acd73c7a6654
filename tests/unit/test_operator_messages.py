"""Coverage of the real operator's messages: every one the LM-Eval controller or driver can show is mapped.

The extraction reads ../shared/upstream/trustyai-service-operator/*.tar.gz with Go's own parser
(tools/operator_messages); those tests skip, saying why, when the archives or Go are absent.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from lmeval_setup.rules.catalog import RULES
from lmeval_setup.rules.operator_messages import OPERATOR_MESSAGES, mapping_for, rule_for_status_message

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import extract_operator_messages as extractor  # noqa: E402

SOURCES = REPO.parent / "shared" / "upstream" / "trustyai-service-operator"
needs_go = pytest.mark.skipif(shutil.which("go") is None,
                              reason="no Go toolchain on PATH: the extractor parses the sources with go/ast")


@pytest.fixture(scope="module")
def by_release() -> dict[str, list[extractor.OperatorMessage]]:
    if not any(SOURCES.glob("*.tar.gz")):
        pytest.skip(f"operator source archives not found in {SOURCES} (../shared absent)")
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain on PATH: the extractor parses the sources with go/ast")
    return extractor.extract(SOURCES)


def test_every_extracted_message_of_every_release_is_mapped(by_release) -> None:
    unmapped = sorted({(release, m.kind, m.text, f"{m.file}:{m.line}") for release, messages in by_release.items()
                       for m in messages if mapping_for(m.kind, m.text) is None})
    assert not unmapped, "map these in lmeval_setup/rules/operator_messages.py:\n" + "\n".join(map(str, unmapped))


def test_extraction_sees_every_release_and_the_controllers_known_messages(by_release) -> None:
    assert {p.name.removesuffix(".tar.gz") for p in SOURCES.glob("*.tar.gz")} <= set(by_release)
    for release, messages in by_release.items():
        texts = {m.text for m in messages}
        # Present on every line, 2.16 to 3.5 and upstream: permission refusals, Kueue, the pod-gone event.
        assert "code execution not allowed by the operator" in texts, release
        assert "job %s requires kueue.x-k8s.io/queue-name label" in texts, release
        events = {m.reason for m in messages if m.kind == "event"}
        assert {"PodCreation", "PodMissing", "JobCompleted"} <= events, release
        assert {"Failed", "Succeeded"} <= {m.text for m in messages if m.kind == "reason"}, release
    # Input validation (validation.go) arrived after v1.38.0; 3.5 validates git sources and sidecars.
    latest = {m.text for m in by_release["rhoai-3.5"]}
    assert "git URL contains shell metacharacters" in latest
    assert "volume[%d] %q: hostPath volumes are not permitted" in latest


def test_every_mapping_names_a_catalog_rule_or_a_reason() -> None:
    for entry in OPERATOR_MESSAGES:
        assert (entry.rule is None) != (entry.not_user_facing is None), entry.pattern.source
        assert entry.rule is None or entry.rule in RULES, entry.rule


@pytest.mark.parametrize(("message", "rule_id"), [
    ("Input validation failed: invalid git URL: git URL contains shell metacharacters", "LME015"),
    ("failed to set up custom tasks: failed to clone git repository: exit status 128, output: fatal: could not "
     "read Username for 'https://github.com': terminal prompts disabled", "LME031"),
    ("failed to download assets from S3: exit status 1", "LME032"),
    ("failed to upload results to OCI: exit status 1", "LME033"),
    ("job requires kueue.x-k8s.io/queue-name label", "LME034"),
    ("Failed to read configuration: invalid PullPolicy", "LME035"),
    ("pod doesn't have proper entry in the OwnerReferences", "LME036"),
    ("fetching external git tasks is not allowed when allowOnline is false", "LME001"),
    ("exit status 1", None),  # only the pod log can tell (rules/logs.py)
])
def test_real_status_messages_classify_with_the_same_table(message: str, rule_id: str | None) -> None:
    assert rule_for_status_message(message) == rule_id


@needs_go
def test_the_go_extractor_reads_syntax_not_lines(tmp_path: Path) -> None:
    """A message split over lines, built with Sprintf or concatenation, is one record with its format."""
    src = tmp_path / "controllers" / "lmes"
    src.mkdir(parents=True)
    (src / "x.go").write_text('''package lmes

import ("errors"; "fmt")

func f(job *Job) error {
	job.Status.Message = fmt.Sprintf(
		"quota %s for %s", "a", "b")
	r.Recorder.Event(job, "Warning", "Odd",
		"first " + job.Name)
	if job == nil { return errors.New("nil " +
		"job") }
	return fmt.Errorf("wrapped: %w", errors.New("inner"))
}
''')
    (src / "x_test.go").write_text('package lmes\nimport "errors"\nvar e = errors.New("from a test")\n')
    binary = extractor.build_extractor(tmp_path)
    got = {(m.kind, m.text, m.reason) for m in extractor.run_extractor(binary, tmp_path, "synthetic")}
    assert got == {("status", "quota %s for %s", ""), ("event", "first %v", "Odd"), ("error", "nil job", ""),
                   ("error", "wrapped: %w", ""), ("error", "inner", "")}
