"""Render a kustomize directory of LMEvalJobs, one per model, for teams that keep their jobs in Git.

Output (DIR):
    kustomization.yaml        namespace, common labels, the resources below
    namespace.yaml            (unless disabled) so `oc apply -k DIR` works on an empty cluster
    lmevaljob-<model>.yaml    one per model, with the seed's proven settings

The jobs come from the same builder as `provision` (`provision.objects.job_definition`), so a
scaffolded job and a provisioned one can never drift apart. num_concurrent follows the model
server's GPUs (a server on 4 GPUs takes 4x the parallel requests of one on 1 GPU).

The spec file (--spec) is small YAML:
    namespace: private-ai-demo
    tasks: [arc_easy, hellaswag]
    limit: "100"                         # optional
    tokenizer: ibm-granite/granite-3.1-8b-instruct
    allowOnline: true                    # optional; default true (the tokenizer comes from the Hub)
    concurrencyPerGpu: 1                 # optional
    apiKeySecret: model-token            # optional, Secret with key `token`
    models:
      - name: granite-w4a16              # job name lmeval-<name>; served model name unless `model`
        baseUrl: http://granite-w4a16-predictor.private-ai-demo.svc.cluster.local:8080/v1/completions
        gpus: 1
      - name: granite-fp16
        baseUrl: http://granite-fp16-predictor.private-ai-demo.svc.cluster.local:8080/v1/completions
        gpus: 4
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmeval_setup.errors import UsageError
from lmeval_setup.provision.objects import ProvisionSpec, job_definition
from lmeval_setup.safeio import check_writable, make_dirs, write_atomic

JSON = dict[str, Any]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GPUS_ANNOTATION = "lmeval-setup.io/model-server-gpus"
PART_OF = {"app.kubernetes.io/part-of": "lmeval", "app.kubernetes.io/managed-by": "kustomize"}


@dataclass
class ModelEntry:
    name: str
    base_url: str
    _: KW_ONLY
    gpus: int = 1
    served_model: str | None = None
    tokenizer: str | None = None


@dataclass
class ScaffoldSpec:
    namespace: str
    tasks: list[str]
    _: KW_ONLY
    models: list[ModelEntry]
    tokenizer: str | None = None
    limit: str | None = None
    allow_online: bool = True
    allow_code_execution: bool = False
    concurrency_per_gpu: int = 1
    api_key_secret: str | None = None
    job_prefix: str = "lmeval-"
    include_namespace: bool = True
    extra: JSON = field(default_factory=dict)


def load_spec(path: Path) -> ScaffoldSpec:
    from lmeval_setup import safeio  # bounded: regular files only, size, aliases and depth (exit 2)

    shown = f"--spec {path}"
    data = safeio.load_yaml(safeio.read_text(path, limit=safeio.MiB, display=shown), shown)
    jobs = _lmevaljobs(data)
    if jobs is not None:  # `kubectl get lmevaljobs -o yaml > jobs.yaml`: re-create them as a component
        return spec_from_jobs(jobs, source=str(path))
    if not isinstance(data, dict):
        raise UsageError(f"--spec {path}: expected a mapping with namespace, tasks and models")
    return spec_from_mapping(data, source=str(path))


def _lmevaljobs(data: Any) -> list[JSON] | None:
    """The LMEvalJobs of a `kind: List` (or typed list) or of a single LMEvalJob; None for a scaffold spec."""
    if isinstance(data, dict) and data.get("kind") == "LMEvalJob":
        return [data]
    if isinstance(data, dict) and str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list):
        out: list[JSON] = []
        for item in data["items"]:
            out.extend(_lmevaljobs(item) or [])
        return out
    return None


def spec_from_jobs(jobs: list[JSON], *, source: str) -> ScaffoldSpec:
    """A scaffold spec that re-creates these LMEvalJobs: one model each (name without the job prefix,
    base_url, served model, tokenizer, GPUs from the annotation scaffold writes), their namespace and tasks."""
    if not jobs:
        raise UsageError(f"--spec {source}: the List holds no LMEvalJob")
    namespaces = sorted({str((j.get("metadata") or {}).get("namespace") or "") for j in jobs} - {""})
    if len(namespaces) > 1:
        raise UsageError(f"--spec {source}: the jobs are in several namespaces ({', '.join(namespaces)})",
                         hint="one component per namespace: filter the List with -n")
    first = jobs[0].get("spec") or {}
    tasks = [str(t) for t in ((first.get("taskList") or {}).get("taskNames") or [])]
    models = [_model_from_job(j, source, i) for i, j in enumerate(jobs)]
    return ScaffoldSpec(namespace=namespaces[0] if namespaces else "", tasks=tasks, models=models,
                        limit=None if first.get("limit") is None else str(first["limit"]),
                        allow_online=bool(first.get("allowOnline", True)),
                        allow_code_execution=bool(first.get("allowCodeExecution", False)))


def _model_from_job(job: JSON, source: str, index: int) -> ModelEntry:
    meta = job.get("metadata") or {}
    args = {str(a.get("name")): str(a.get("value")) for a in (job.get("spec") or {}).get("modelArgs") or []
            if isinstance(a, dict)}
    if not meta.get("name") or not args.get("base_url"):
        raise UsageError(f"--spec {source}: items[{index}] needs metadata.name and a base_url model argument")
    try:
        gpus = int((meta.get("annotations") or {}).get(GPUS_ANNOTATION, 1))
    except ValueError:
        gpus = 1
    name = str(meta["name"])
    return ModelEntry(name=name.removeprefix("lmeval-"), base_url=args["base_url"], gpus=gpus,
                      served_model=args.get("model"), tokenizer=args.get("tokenizer"))


def spec_from_mapping(data: JSON, *, source: str = "spec") -> ScaffoldSpec:
    known = {"namespace", "tasks", "models", "tokenizer", "limit", "allowOnline", "allowCodeExecution",
             "concurrencyPerGpu", "apiKeySecret", "jobPrefix", "namespaceManifest"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}")
    tasks = data.get("tasks") or []
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    models = [_model_entry(m, source, i) for i, m in enumerate(data.get("models") or [])]
    return ScaffoldSpec(
        namespace=str(data.get("namespace") or ""), tasks=[str(t) for t in tasks], models=models,
        tokenizer=data.get("tokenizer"), limit=None if data.get("limit") is None else str(data["limit"]),
        allow_online=bool(data.get("allowOnline", True)),
        allow_code_execution=bool(data.get("allowCodeExecution", False)),
        concurrency_per_gpu=int(data.get("concurrencyPerGpu", 1)),
        api_key_secret=data.get("apiKeySecret"), job_prefix=str(data.get("jobPrefix", "lmeval-")),
        include_namespace=bool(data.get("namespaceManifest", True)),
    )


def _model_entry(raw: Any, source: str, index: int) -> ModelEntry:
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("baseUrl"):
        raise UsageError(f"{source}: models[{index}] needs name and baseUrl")
    try:
        gpus = int(raw.get("gpus", 1))
    except (TypeError, ValueError):
        raise UsageError(f"{source}: models[{index}].gpus must be an integer") from None
    return ModelEntry(name=str(raw["name"]), base_url=str(raw["baseUrl"]), gpus=gpus,
                      served_model=raw.get("model"), tokenizer=raw.get("tokenizer"))


def parse_model_flag(text: str) -> ModelEntry:
    """`name=granite-fp16,url=http://.../v1/completions,gpus=4[,model=served][,tokenizer=id]`."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"--model {text!r}: {part!r} is not key=value",
                             hint="e.g. --model name=granite-fp16,url=http://HOST:8080/v1/completions,gpus=4")
        fields[key.strip()] = value.strip()
    unknown = set(fields) - {"name", "url", "gpus", "model", "tokenizer"}
    if unknown or "name" not in fields or "url" not in fields:
        raise UsageError(f"--model {text!r}: needs name= and url= (optional gpus=, model=, tokenizer=)")
    try:
        gpus = int(fields.get("gpus", "1"))
    except ValueError:
        raise UsageError(f"--model {text!r}: gpus must be an integer") from None
    return ModelEntry(fields["name"], fields["url"], gpus=gpus, served_model=fields.get("model"),
                      tokenizer=fields.get("tokenizer"))


def validate(spec: ScaffoldSpec) -> None:
    if not spec.namespace or not DNS_LABEL.match(spec.namespace):
        raise UsageError(f"namespace {spec.namespace!r} is not a valid namespace name")
    if not spec.tasks:
        raise UsageError("no tasks", hint="--tasks arc_easy,hellaswag or tasks: in the spec")
    if not spec.models:
        raise UsageError("no models", hint="--model name=...,url=...,gpus=N or models: in the spec")
    names = [spec.job_prefix + m.name for m in spec.models]
    for model, name in zip(spec.models, names, strict=True):
        if not DNS_LABEL.match(name) or len(name) > 63:
            raise UsageError(f"job name {name!r} (from model {model.name!r}) is not a valid DNS label")
        if model.gpus < 1:
            raise UsageError(f"model {model.name}: gpus must be at least 1")
        if not (model.tokenizer or spec.tokenizer):
            raise UsageError(f"model {model.name}: no tokenizer", hint="set tokenizer: (Hugging Face repo id)")
    if len(set(names)) != len(names):
        raise UsageError("two models give the same job name")


def job_for(spec: ScaffoldSpec, model: ModelEntry) -> JSON:
    provision_spec = ProvisionSpec(
        namespace="",  # kustomization.yaml sets it, so the component can be re-targeted by an overlay
        job_name=spec.job_prefix + model.name,
        base_url=model.base_url,
        tokenizer=model.tokenizer or spec.tokenizer,
        served_model=model.served_model or model.name,
        tasks=list(spec.tasks),
        limit=spec.limit,
        num_concurrent=model.gpus * spec.concurrency_per_gpu,
        api_key_secret=spec.api_key_secret,
        allow_online=spec.allow_online,
        allow_code_execution=spec.allow_code_execution,
    )
    job = job_definition(provision_spec)
    job["metadata"]["annotations"] = {GPUS_ANNOTATION: str(model.gpus)}
    return job


def render_files(spec: ScaffoldSpec) -> dict[str, str]:
    """File name -> content; nothing is written here."""
    validate(spec)
    files: dict[str, str] = {}
    resources: list[str] = []
    if spec.include_namespace:
        files["namespace.yaml"] = _dump({"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": spec.namespace}})
        resources.append("namespace.yaml")
    for model in spec.models:
        name = f"lmevaljob-{model.name}.yaml"
        header = (f"# LM-Eval job for {model.served_model or model.name}: model server on {model.gpus} GPU(s), "
                  f"num_concurrent {model.gpus * spec.concurrency_per_gpu}.\n")
        files[name] = header + _dump(job_for(spec, model))
        resources.append(name)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": spec.namespace,
        "labels": [{"pairs": dict(PART_OF), "includeSelectors": False}],
        "resources": resources,
    }
    files["kustomization.yaml"] = (
        "# Generated by lmeval-setup scaffold. Apply with: oc apply -k <this directory>\n" + _dump(kustomization)
    )
    return files


def write_files(directory: Path, files: dict[str, str], *, force: bool = False) -> list[Path]:
    """Every name is checked before any is written (an existing one needs `force`; a link, a FIFO or a directory
    in the way is refused even then), and each file is written whole or not at all, never through a link."""
    paths = [directory / name for name in files]
    for path in paths:
        check_writable(path, replace=force)
    make_dirs(directory)
    for path, content in zip(paths, files.values(), strict=True):
        write_atomic(path, content, replace=force)
    return paths


def _dump(obj: JSON) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
