"""The comparison table of completed jobs, and the deltas between two of them.

One row per job: model, each task's metric "value ± stderr", and the evaluation time. Rendered as an
aligned text table, GitHub markdown (for PR comments and job summaries), CSV, JSON or YAML. `compare`
gives B - A per task, the way one reads "quantized against full precision".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from lmeval_setup.redact import printable
from lmeval_setup.report.structured import STRUCTURED_FORMATS, dump
from lmeval_setup.results.model import JobResult, MetricValue

FORMATS = ("table", "markdown", "json", "yaml", "csv")


@dataclass(frozen=True)
class Column:
    task: str
    metric: str

    @property
    def title(self) -> str:
        return f"{self.task} {self.metric}"


def columns_for(results: Sequence[JobResult], metric: str | None = None) -> list[Column]:
    """Tasks in first-seen order; each with the chosen metric (or the first job's primary one)."""
    columns: list[Column] = []
    seen: set[str] = set()
    for result in results:
        for task in result.tasks:
            if task in seen:
                continue
            seen.add(task)
            chosen = metric if metric and any(r.metric(task, metric) for r in results) else None
            chosen = chosen or next((r.primary_metric(task) for r in results if r.primary_metric(task)), None)
            if chosen:
                columns.append(Column(task, chosen))
    return columns


def format_value(value: MetricValue | None) -> str:
    if value is None:
        return "-"
    if value.stderr is None:
        return f"{value.value:.4f}"
    return f"{value.value:.4f} ± {value.stderr:.4f}"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def table_rows(results: Sequence[JobResult], columns: Sequence[Column]) -> tuple[list[str], list[list[str]]]:
    header = ["job", "model", *(c.title for c in columns), "time"]
    rows = [
        [r.job, r.model, *(format_value(r.metric(c.task, c.metric)) for c in columns), format_seconds(r.seconds)]
        for r in results
    ]
    return header, rows


def render(results: Sequence[JobResult], fmt: str, metric: str | None = None) -> str:
    columns = columns_for(results, metric)
    if fmt in STRUCTURED_FORMATS:
        return dump(results_json(results, columns), fmt)
    header, rows = table_rows(results, columns)
    if fmt == "csv":
        return _csv(results, columns)
    if fmt == "markdown":
        return _markdown(header, rows)
    return _aligned(header, rows)


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    header, rows = _printable(header), [_printable(row) for row in rows]
    widths = [max(len(str(cell)) for cell in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip()
             for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---", "---", *(["---:"] * (len(header) - 3)), "---:"]
    body = [line(_printable(row)) for row in rows]
    return "\n".join([line(_printable(header)), "|" + "|".join(align) + "|", *body]) + "\n"


def _printable(cells: list[str]) -> list[str]:
    """A model name or task from a job's spec or status is shown, never obeyed, by the terminal."""
    return [printable(str(cell)) for cell in cells]


def _csv(results: Sequence[JobResult], columns: Sequence[Column]) -> str:
    """Numbers unformatted (value and stderr in separate columns) so spreadsheets can compute."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["job", "namespace", "model"]
    for c in columns:
        header += [f"{c.task}:{c.metric}", f"{c.task}:{c.metric}_stderr"]
    writer.writerow([*header, "seconds"])
    for r in results:
        row: list[object] = [r.job, r.namespace, r.model]
        for c in columns:
            value = r.metric(c.task, c.metric)
            row += [value.value if value else "", value.stderr if value and value.stderr is not None else ""]
        writer.writerow([*row, r.seconds if r.seconds is not None else ""])
    return out.getvalue()


def results_json(results: Sequence[JobResult], columns: Sequence[Column]) -> dict[str, object]:
    return {
        "schema": "lmeval-setup/results",
        "version": 1,
        "columns": [{"task": c.task, "metric": c.metric} for c in columns],
        "jobs": [
            {
                "job": r.job, "namespace": r.namespace, "model": r.model, "seconds": r.seconds,
                "tasks": {
                    task: {m: {"value": v.value, "stderr": v.stderr} for m, v in metrics.items()}
                    for task, metrics in r.tasks.items()
                },
            }
            for r in results
        ],
    }


# -- compare ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delta:
    column: Column
    a: MetricValue | None
    b: MetricValue | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b.value - self.a.value

    @property
    def relative(self) -> float | None:
        if self.delta is None or not self.a or self.a.value == 0:
            return None
        return self.delta / abs(self.a.value)

    @property
    def combined_stderr(self) -> float | None:
        """Stderr of the difference of two independent estimates: sqrt(sa² + sb²)."""
        if not self.a or not self.b or self.a.stderr is None or self.b.stderr is None:
            return None
        return float((self.a.stderr**2 + self.b.stderr**2) ** 0.5)

    @property
    def significant(self) -> bool | None:
        """|Δ| > 2 SE of the difference: a rough "is this more than noise" for readers of the table."""
        if self.delta is None or self.combined_stderr is None:
            return None
        return abs(self.delta) > 2 * self.combined_stderr


def compare(a: JobResult, b: JobResult, metric: str | None = None) -> list[Delta]:
    return [Delta(c, a.metric(c.task, c.metric), b.metric(c.task, c.metric)) for c in columns_for([a, b], metric)]


def render_compare(a: JobResult, b: JobResult, fmt: str, metric: str | None = None) -> str:
    deltas = compare(a, b, metric)
    if fmt in STRUCTURED_FORMATS:
        return dump({
            "schema": "lmeval-setup/compare", "version": 1,
            "a": {"job": a.job, "model": a.model, "seconds": a.seconds},
            "b": {"job": b.job, "model": b.model, "seconds": b.seconds},
            "deltas": [
                {"task": d.column.task, "metric": d.column.metric,
                 "a": d.a.value if d.a else None, "b": d.b.value if d.b else None,
                 "delta": d.delta, "relative": d.relative, "stderr": d.combined_stderr,
                 "significant": d.significant}
                for d in deltas
            ],
        }, fmt)
    header = ["task", "metric", f"A: {a.job}", f"B: {b.job}", "Δ (B-A)", "Δ %", "> 2 SE"]
    rows = [
        [d.column.task, d.column.metric, format_value(d.a), format_value(d.b), _signed(d.delta),
         _percent(d.relative), {True: "yes", False: "no", None: "-"}[d.significant]]
        for d in deltas
    ]
    rows.append(["time", "", format_seconds(a.seconds), format_seconds(b.seconds),
                 _signed_seconds(a.seconds, b.seconds), _percent(_ratio(a.seconds, b.seconds)), ""])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([header, *rows])
        return out.getvalue()
    title = printable(f"A = {a.job} ({a.model}), B = {b.job} ({b.model})") + "\n"
    if fmt == "markdown":
        return title.replace("A = ", "**A** = ").replace("B = ", "**B** = ") + "\n" + _markdown(header, rows)
    return title + _aligned(header, rows)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or a == 0 else (b - a) / a


def _signed_seconds(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if round(b) == round(a):
        return format_seconds(0)
    return ("-" if b < a else "+") + format_seconds(abs(b - a))
