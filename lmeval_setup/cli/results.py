"""`lmeval-setup results`: scores of completed LMEvalJobs as a table, a comparison or a plot."""

from __future__ import annotations

from pathlib import Path

import click

from lmeval_setup.cli.common import connect, kube_options
from lmeval_setup.cli.scope import namespace_options, resolve_namespace
from lmeval_setup.cli.selection import selector_option
from lmeval_setup.cli.verbosity import note
from lmeval_setup.errors import UsageError

EPILOG = """\b
Examples:
  lmeval-setup results -n private-ai-demo                        # every completed job in the namespace
  lmeval-setup results -A                                        # ... in every namespace
  lmeval-setup results -A -l team=granite                        # ... whose labels match, as kubectl -l
  lmeval-setup results -n private-ai-demo granite-fp16 granite-w4a16 -o markdown
  lmeval-setup results -n private-ai-demo --compare granite-fp16 granite-w4a16 --plot compare.png
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("jobs", nargs=-1)
@namespace_options("Jobs")
@click.option("-o", "--output", type=click.Choice(["table", "markdown", "json", "yaml", "csv"]), default="table",
              show_default=True, help="Output format.")
@click.option("--compare", nargs=2, default=None, metavar="JOB_A JOB_B", help="Show B - A per task.")
@click.option("--metric", default=None, help="Metric to show per task [default: acc_norm, else acc, ...].")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a bar chart with error bars (.png or .svg).")
@selector_option
@kube_options
def results(jobs: tuple[str, ...], namespace: str | None, all_namespaces: bool, output: str,
            compare: tuple[str, str] | None, metric: str | None, plot: Path | None, kubeconfig: str | None,
            context: str | None, selector: str | None = None) -> None:
    """Show the results of completed LMEvalJobs: model, each task's metric ± stderr, time."""
    from lmeval_setup.cli.selection import check_selector
    from lmeval_setup.results.fetch import fetch_results
    from lmeval_setup.results.table import render, render_compare

    if compare and jobs:
        raise UsageError("give either JOB... or --compare JOB_A JOB_B")
    check_selector(selector)  # a selector kubectl would refuse is exit 2 before any cluster call
    names = list(compare) if compare else list(jobs)
    if plot is not None:  # a bad --plot is reported before any cluster call or output
        from lmeval_setup.results.plot import check_plot_target

        check_plot_target(plot)
    scope = resolve_namespace(namespace, all_namespaces, kubeconfig, context)
    kube = connect(kubeconfig, context)
    try:
        found = fetch_results(kube, scope, names, warn=note, selector=selector)
    finally:
        kube.close()
    written = None
    if plot is not None:  # first, so a plot that cannot be drawn or saved fails before the table
        from lmeval_setup.results.plot import write_plot

        written = write_plot(found, plot, metric)
    if compare:
        click.echo(render_compare(found[0], found[1], output, metric), nl=False)
    else:
        click.echo(render(found, output, metric), nl=False)
    if written is not None:
        note(f"plot written to {written}")

