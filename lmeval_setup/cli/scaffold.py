"""`lmeval-setup scaffold DIR`: a kustomize directory with one LMEvalJob per model."""

from __future__ import annotations

from pathlib import Path

import click

EPILOG = """\b
Examples:
  lmeval-setup scaffold gitops/components/trustyai-eval -n private-ai-demo --tasks arc_easy,hellaswag \\
      --tokenizer ibm-granite/granite-3.1-8b-instruct \\
      --model name=granite-w4a16,url=http://granite-w4a16-predictor:8080/v1/completions,gpus=1 \\
      --model name=granite-fp16,url=http://granite-fp16-predictor:8080/v1/completions,gpus=4
  lmeval-setup scaffold gitops/components/trustyai-eval --spec eval-models.yaml
  oc apply -k gitops/components/trustyai-eval
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--spec", "spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML spec (namespace, tasks, tokenizer, models[name, baseUrl, gpus]), or LMEvalJobs as "
                   "`kubectl get lmevaljobs -o yaml` prints them (kind: List); flags override it.")
@click.option("-n", "--namespace", default=None, help="Namespace of the jobs.")
@click.option("--tasks", default=None, help="Comma-separated lm-eval tasks.")
@click.option("--tokenizer", default=None, help="Hugging Face tokenizer id shared by the models.")
@click.option("--limit", default=None, help="Samples per task.")
@click.option("--model", "models", multiple=True, metavar="name=N,url=U[,gpus=G][,model=M][,tokenizer=T]",
              help="A model server to evaluate; repeatable.")
@click.option("--concurrency-per-gpu", type=click.IntRange(min=1), default=None,
              help="num_concurrent = GPUs x this [default: 1].")
@click.option("--api-key-secret", default=None, metavar="NAME", help="Secret with the endpoints' API key (key token).")
@click.option("--no-namespace-manifest", is_flag=True, help="Do not write namespace.yaml.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def scaffold(directory: Path, spec_file: Path | None, namespace: str | None, tasks: str | None,
             tokenizer: str | None, limit: str | None, models: tuple[str, ...], concurrency_per_gpu: int | None,
             api_key_secret: str | None, no_namespace_manifest: bool, force: bool) -> None:
    """Write kustomization.yaml and one LMEvalJob per model into DIRECTORY (lint-clean, `oc apply -k`-ready)."""
    from lmeval_setup.scaffold.render import (
        ScaffoldSpec,
        load_spec,
        parse_model_flag,
        render_files,
        write_files,
    )

    spec = load_spec(spec_file) if spec_file else ScaffoldSpec(namespace="", tasks=[], models=[])
    if namespace:
        spec.namespace = namespace
    if tasks:
        spec.tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if tokenizer:
        spec.tokenizer = tokenizer
    if limit:
        spec.limit = limit
    if models:
        spec.models = [parse_model_flag(m) for m in models]
    if concurrency_per_gpu:
        spec.concurrency_per_gpu = concurrency_per_gpu
    if api_key_secret:
        spec.api_key_secret = api_key_secret
    if no_namespace_manifest:
        spec.include_namespace = False
    for path in write_files(directory, render_files(spec), force=force):
        click.echo(str(path))
