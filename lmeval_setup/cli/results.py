"""`lmeval-setup results`: scores of completed LMEvalJobs as a table, a comparison or a plot."""

from __future__ import annotations

from pathlib import Path

import click

from lmeval_setup.cli.common import connect, kube_options
from lmeval_setup.errors import UsageError

EPILOG = """\b
Examples:
  lmeval-setup results -n private-ai-demo                        # every completed job in the namespace
  lmeval-setup results -n private-ai-demo granite-fp16 granite-w4a16 -o markdown
  lmeval-setup results -n private-ai-demo --compare granite-fp16 granite-w4a16 --plot compare.png
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("jobs", nargs=-1)
@click.option("-n", "--namespace", default=None, help="Namespace of the jobs [default: the context's, else default].")
@click.option("-o", "--output", type=click.Choice(["table", "markdown", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
@click.option("--compare", nargs=2, default=None, metavar="JOB_A JOB_B", help="Show B - A per task.")
@click.option("--metric", default=None, help="Metric to show per task [default: acc_norm, else acc, ...].")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a bar chart with error bars (.png or .svg).")
@kube_options
def results(jobs: tuple[str, ...], namespace: str | None, output: str, compare: tuple[str, str] | None,
            metric: str | None, plot: Path | None, kubeconfig: str | None, context: str | None) -> None:
    """Show the results of completed LMEvalJobs: model, each task's metric ± stderr, time."""
    from lmeval_setup.results.fetch import fetch_results
    from lmeval_setup.results.table import render, render_compare

    if compare and jobs:
        raise UsageError("give either JOB... or --compare JOB_A JOB_B")
    names = list(compare) if compare else list(jobs)
    kube = connect(kubeconfig, context)
    try:
        found = fetch_results(kube, namespace or _default_namespace(kubeconfig, context), names,
                              warn=lambda text: click.echo(text, err=True))
    finally:
        kube.close()
    if compare:
        click.echo(render_compare(found[0], found[1], output, metric), nl=False)
    else:
        click.echo(render(found, output, metric), nl=False)
    if plot is not None:
        from lmeval_setup.results.plot import write_plot

        click.echo(f"plot written to {write_plot(found, plot, metric)}", err=True)


def _default_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The kubeconfig context's namespace, as kubectl does; `default` otherwise."""
    try:
        from kubernetes.config import kube_config

        loader = kube_config.KubeConfigLoader(
            config_dict=kube_config.KubeConfigMerger(_kubeconfig_path(kubeconfig)).config,
            active_context=context,
        )
        return str(loader.current_context.get("context", {}).get("namespace") or "default")
    except Exception:  # no kubeconfig (in-cluster) or an unusual one: kubectl's fallback
        return "default"


def _kubeconfig_path(kubeconfig: str | None) -> str:
    import os

    return kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
