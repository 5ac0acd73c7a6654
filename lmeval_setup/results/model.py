"""Read lm-eval results out of LMEvalJob objects.

`status.results` holds the whole lm-eval `results_*.json` as a string: `results/{task}/{"acc,none": x,
"acc_stderr,none": y, "alias": ...}`, `config.model_args` (a "k=v,k=v" string or a dict) and
`total_evaluation_time_seconds` (a string in lm-eval's output). Everything here is pure and works on
plain dicts, so the same code serves the CLI, provision's summary and the tests.
"""

from __future__ import annotations

import json
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from lmeval_setup.errors import UsageError

JSON = dict[str, Any]
FILTER_SUFFIX = ",none"
# Which metric stands for a task when the user does not choose: normalised accuracy first, as the seed
# compares models on acc_norm where lm-eval reports it.
PREFERRED_METRICS = ("acc_norm", "acc", "exact_match", "f1", "mcc", "word_perplexity", "perplexity")


@dataclass(frozen=True)
class MetricValue:
    value: float
    stderr: float | None


@dataclass
class JobResult:
    """One completed job's scores: task -> metric name (without ",none") -> value and stderr."""

    job: str
    namespace: str
    _: KW_ONLY
    model: str
    tasks: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    seconds: float | None = None

    def metric(self, task: str, metric: str) -> MetricValue | None:
        return self.tasks.get(task, {}).get(_base_name(metric))

    def primary_metric(self, task: str) -> str | None:
        return choose_metric(self.tasks.get(task, {}))


def choose_metric(metrics: dict[str, MetricValue]) -> str | None:
    for name in PREFERRED_METRICS:
        if name in metrics:
            return name
    return next(iter(sorted(metrics)), None)


def _base_name(metric: str) -> str:
    """`acc_norm,none` and `acc_norm` name the same metric (lm-eval's default filter is `none`)."""
    return metric[: -len(FILTER_SUFFIX)] if metric.endswith(FILTER_SUFFIX) else metric


def parse_results_document(document: JSON, *, job: str, namespace: str) -> JobResult:
    """Turn an lm-eval results document into a JobResult."""
    result = JobResult(job=job, namespace=namespace, model=model_name(document) or job)
    for task, values in (document.get("results") or {}).items():
        if isinstance(values, dict):
            result.tasks[task] = _task_metrics(values)
    result.seconds = _as_float(document.get("total_evaluation_time_seconds"))
    return result


def _task_metrics(values: JSON) -> dict[str, MetricValue]:
    """Pair "m,filter" with "m_stderr,filter"; non-default filters keep their name ("exact_match,strict")."""
    metrics: dict[str, MetricValue] = {}
    for key, raw in values.items():
        if key == "alias" or "_stderr" in key or not isinstance(raw, (int, float)) or isinstance(raw, bool):
            continue
        name, _, filt = key.partition(",")
        stderr_key = f"{name}_stderr,{filt}" if filt else f"{name}_stderr"
        label = name if filt in ("", "none") else f"{name},{filt}"
        metrics[label] = MetricValue(float(raw), _as_float(values.get(stderr_key)))
    return metrics


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # lm-eval writes "N/A" for stderr it could not compute


def model_name(document: JSON) -> str | None:
    """The served model name from config.model_args ("model=granite,base_url=..." or a dict)."""
    args = (document.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        parsed = {str(k): str(v) for k, v in args.items()}
    elif isinstance(args, str):
        parsed = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    else:
        return None
    return parsed.get("model") or parsed.get("pretrained")


def job_result(job: JSON) -> JobResult:
    """A completed LMEvalJob's results; UsageError when it has none (not finished, or failed)."""
    meta = job.get("metadata", {})
    name, namespace = meta.get("name", "?"), meta.get("namespace", "")
    status = job.get("status") or {}
    raw = status.get("results")
    if not raw:
        state = "/".join(filter(None, (status.get("state"), status.get("reason")))) or "no status"
        raise UsageError(f"LMEvalJob {namespace}/{name} has no results ({state})")
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise UsageError(f"LMEvalJob {namespace}/{name}: status.results is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise UsageError(f"LMEvalJob {namespace}/{name}: status.results is not a JSON object")
    result = parse_results_document(document, job=name, namespace=namespace)
    if result.model == name:
        result.model = _model_from_spec(job) or name
    return result


def _model_from_spec(job: JSON) -> str | None:
    for arg in (job.get("spec") or {}).get("modelArgs") or []:
        if arg.get("name") in ("model", "pretrained"):
            return str(arg.get("value"))
    return None


def has_results(job: JSON) -> bool:
    return bool((job.get("status") or {}).get("results"))
