"""Benchmarks: each module exposes run() -> dict; bench.run collects them into bench/REPORT.md."""
