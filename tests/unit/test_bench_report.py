"""bench.run: a run of some benchmarks replaces only their sections of bench/REPORT.md."""

from __future__ import annotations

from bench.run import merge_sections, render

OLD = render([{"name": "lint", "rows": [{"figure": "old lint", "value_s": 1.0}]},
              {"name": "doctor", "rows": [{"figure": "old doctor", "value_s": 2.0}], "notes": ["kept"]}])


def test_a_subset_run_replaces_its_section_and_keeps_the_others() -> None:
    merged = merge_sections(OLD, [{"name": "lint", "rows": [{"figure": "new lint", "value_s": 3.0}]}],
                            "lint_bench", "load average 9.0")
    assert "old lint" not in merged and "| new lint | 3.000 s |" in merged
    assert "| old doctor | 2.000 s |" in merged and "- kept" in merged
    lint = merged.split("## lint\n", 1)[1].split("\n## ", 1)[0]
    assert "by `python -m bench.run lint_bench`" in lint and "load average 9.0" in lint
    assert merged.index("## lint") < merged.index("## doctor"), "sections keep their order"


def test_a_new_section_is_appended() -> None:
    merged = merge_sections(OLD, [{"name": "latency", "rows": [{"figure": "rtt", "value": 5, "unit": "x"}]}],
                            "latency_bench", "load average 1.0")
    assert merged.startswith(OLD.rstrip()) and merged.rstrip().endswith("| rtt | 5 x |  |  |  |")
