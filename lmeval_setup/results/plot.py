"""A grouped bar chart of the comparison: one group per task, one bar per job, stderr as error bars.

matplotlib is an optional dependency (the `plot` extra) and heavy to import, so it is loaded only
here, only when --plot is used, with the non-interactive Agg backend (CI machines have no display).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from lmeval_setup.errors import PrerequisiteError, UsageError
from lmeval_setup.results.model import JobResult
from lmeval_setup.results.table import columns_for, format_seconds
from lmeval_setup.safeio import UnwritableOutput, check_writable, is_dir, why_missing, write_atomic

SUFFIXES = (".png", ".svg")


def check_plot_target(path: Path) -> None:
    """Everything about --plot that can be known before the jobs are read: the suffix, matplotlib,
    and a directory that already exists (we never create one: a typo must not leave directories)."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--plot {path}: use a .png or .svg file name")
    _pyplot()
    parent = path.parent
    if not is_dir(parent):
        raise UsageError(f"--plot {path}: directory {parent}: {why_missing(parent, 'does not exist')}")
    try:  # a FIFO would block the save, a link would be written through
        check_writable(path, replace=True)
    except UnwritableOutput as exc:
        raise UsageError(f"--plot {exc}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--plot {path}: directory {parent} is not writable")


def write_plot(results: Sequence[JobResult], path: Path, metric: str | None = None) -> Path:
    check_plot_target(path)
    plt = _pyplot()
    columns = columns_for(results, metric)
    if not columns:
        raise UsageError("nothing to plot: the jobs have no task metrics")
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(columns) * max(1, len(results)) / 2 + 3), 4.5))
    positions = range(len(columns))
    for index, result in enumerate(results):
        values = [result.metric(c.task, c.metric) for c in columns]
        offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
        heights = [v.value if v else 0.0 for v in values]
        errors = [v.stderr if v and v.stderr is not None else 0.0 for v in values]
        who = result.model if result.model == result.job else f"{result.model} (job {result.job})"
        label = f"{who}, {format_seconds(result.seconds)}"
        bars = ax.bar(offsets, heights, width * 0.92, yerr=errors, capsize=4, label=label)
        ax.bar_label(bars, labels=[f"{h:.3f}" if v else "n/a" for h, v in zip(heights, values, strict=True)],
                     padding=3, fontsize=8)
    ax.set_xticks(list(positions), [f"{c.task}\n{c.metric}" for c in columns])
    ax.set_ylabel("score (error bars: ± stderr)")
    top = max((r.metric(c.task, c.metric).value for r in results for c in columns  # type: ignore[union-attr]
               if r.metric(c.task, c.metric)), default=1.0)
    ax.set_ylim(0, max(1.0, top * 1.15) if top <= 1.0 else top * 1.15)
    ax.set_title("LM-Eval results")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, fontsize=8, frameon=False)
    fig.tight_layout()
    image = io.BytesIO()
    try:
        fig.savefig(image, dpi=120, format=path.suffix.lower().lstrip("."))
    finally:
        plt.close(fig)
    try:
        write_atomic(path, image.getvalue(), replace=True)
    except UnwritableOutput as exc:
        raise UsageError(f"--plot {exc}") from None
    return path


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PrerequisiteError("--plot needs matplotlib", hint="pip install 'lmeval-setup[plot]'") from None
    return plt
