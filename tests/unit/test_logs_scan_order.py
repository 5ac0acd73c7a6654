"""The failure scan reads a log from its last line up and stops at the first attributed line: the same
answer as reading every line forward and keeping the last hit (the attribution rule: the LAST exception
line that names a cause wins), at a fraction of the regex searches on a long log."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmeval_setup.rules import logs as L

OFFLINE = "ConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)"
UNSAFE = "ValueError: Attempted to run task: mbpp which is marked as unsafe. Set confirm_run_unsafe_code=True"
NONETYPE = "TypeError: 'NoneType' object is not subscriptable"


def forward_last_hit(log: str) -> L.LogHit | None:
    """The attribution rule as first written: every line forward, the first catalog pattern that is not
    refined away per line, the last such line wins."""
    lines = L.split_lines(log)
    ctx = L._Context(lines)
    hits = []
    for i, line in enumerate(lines):
        for pattern in L._FINAL:
            m = pattern.regex.search(line)
            hit = L._to_hit(pattern, m, i, line, ctx) if m else None
            if hit is not None:
                hits.append(hit)
                break
    return hits[-1] if hits else None


@pytest.mark.shared
def test_every_fixture_log_gets_the_forward_scans_answer(fixtures_dir: Path) -> None:
    logs = sorted((fixtures_dir / "logs").glob("*/*.log"))
    assert logs
    for path in logs:
        text = path.read_text()
        assert L.failure(text) == forward_last_hit(text), path.name


def test_a_cause_is_found_when_lines_follow_it() -> None:
    log = "\n".join(["Traceback (most recent call last):", OFFLINE,
                     "2026-01-01T00:00:01\tdriver: lm-eval exited with status 1", "", "Requesting API: 100%|####|"])
    hit = L.failure(log)
    assert hit is not None and (hit.rule_id, hit.line) == ("LME001", 2)
    assert hit == forward_last_hit(log)


def test_the_later_of_two_causes_wins() -> None:
    log = f"{OFFLINE}\nsome output\n{UNSAFE}\ntrailing line"
    hit = L.failure(log)
    assert hit is not None and (hit.rule_id, hit.line) == ("LME010", 3)


def test_a_later_line_refined_away_leaves_the_earlier_cause() -> None:
    # The NoneType error means LME027 only inside lm-eval's logprob parser; here its refiner declines.
    log = f"{OFFLINE}\n{NONETYPE}\n"
    hit = L.failure(log)
    assert hit is not None and (hit.rule_id, hit.line) == ("LME001", 1)
    assert hit == forward_last_hit(log)


def test_a_refiner_reads_lines_after_the_one_it_refines() -> None:
    # token_logprobs appears below the NoneType line: the refiner reads the whole log, not what was scanned.
    log = f"{NONETYPE}\n  File \"lm_eval/models/openai_completions.py\", in parse_logprobs\nend"
    hit = L.failure(log)
    assert hit is not None and (hit.rule_id, hit.line, hit.extra) == ("LME027", 1, ((2, hit.extra[0][1]),))
    assert hit == forward_last_hit(log)


def test_catalog_order_breaks_a_tie_on_one_line() -> None:
    line = f"{OFFLINE} ModuleNotFoundError: No module named 'immutabledict'"
    log = f"start\n{line}\n"
    hit = L.failure(log)
    assert hit is not None and hit.rule_id == "LME001"  # ERR-001 comes before ERR-063 in the catalog
    assert hit == forward_last_hit(log)


def test_the_scan_stops_at_the_last_attributed_line(monkeypatch: pytest.MonkeyPatch) -> None:
    examined: list[int] = []
    line_hit = L._line_hit

    def counting(line: str, i: int, ctx: L._Context, patterns: list[L._Pattern]) -> L.LogHit | None:
        examined.append(i)
        return line_hit(line, i, ctx, patterns)

    monkeypatch.setattr(L, "_line_hit", counting)
    log = "\n".join([OFFLINE] + [f"Requesting API: {n}%" for n in range(398)] + [UNSAFE, ""])
    hit = L.failure(log)
    assert hit is not None and hit.rule_id == "LME010"
    assert examined == [400, 399]  # the empty last line, then the cause: not the 398 lines above it


def test_analyse_keeps_failure_first_and_quality_hits_after() -> None:
    log = f"InsecureRequestWarning: Unverified HTTPS request is being made to host 'm'\n{UNSAFE}\n"
    assert [h.rule_id for h in L.analyse(log)] == ["LME010", "LME028"]
    assert L.analyse(log)[0] == L.failure(log)
    assert L.analyse(log)[1:] == L.quality_hits(log)


# ERR-013 as first written; the catalog's anchors the metric at the start of its word (same matches, linear).
ERR_013_AS_WRITTEN = r"(?P<metric>\S+) not found in the evaluate library!"


def test_the_metric_pattern_matches_what_it_matched_before() -> None:
    import random
    import re

    before = re.compile(ERR_013_AS_WRITTEN)
    now = next(p.regex for p in L._FINAL if p.name == "ERR-013")
    pieces = ["a", "b", " ", "\t", "!", "é", "\u00a0", " not found in the evaluate library!",
              "x not found in the evaluate library", "bleu"]
    rng = random.Random(13)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(20_000)]
    texts += ["  bleu not found in the evaluate library!", "bleu not found in the evaluate library!",
              "x y not found in the evaluate library! z not found in the evaluate library!"]
    found = 0
    for text in texts:
        a, b = before.search(text), now.search(text)
        assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict())), text
        found += a is not None
    assert found > 1000  # the texts exercise matches, not only misses
