"""Read completed LMEvalJobs from a cluster: the named ones, or every job with results in a namespace."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lmeval_setup.errors import UsageError
from lmeval_setup.kube.client import ApiError, Kube
from lmeval_setup.provision.objects import lmevaljob_path
from lmeval_setup.results.model import JobResult, has_results, job_result


def fetch_results(kube: Kube, namespace: str, names: Sequence[str],
                  warn: Callable[[str], None] = lambda _: None) -> list[JobResult]:
    """Named jobs must all have results (UsageError otherwise); unnamed: the completed ones, by name."""
    if names:
        found = []
        for name in names:
            job = kube.get_or_none(lmevaljob_path(namespace, name))
            if job is None:
                _require_lmevaljob_api(kube)  # "not found" on a cluster without the API would mislead
                raise UsageError(f"LMEvalJob {namespace}/{name} not found")
            found.append(job_result(job))
        return found
    try:
        jobs = list(kube.list_items(lmevaljob_path(namespace)))
    except ApiError as exc:
        if exc.not_found:
            _require_lmevaljob_api(kube)
        raise
    completed = sorted((j for j in jobs if has_results(j)), key=lambda j: j["metadata"]["name"])
    skipped = len(jobs) - len(completed)
    if skipped:
        warn(f"{skipped} job(s) in {namespace} have no results yet (running or failed)")
    if not completed:
        raise UsageError(f"no completed LMEvalJobs with results in namespace {namespace}")
    return [job_result(j) for j in completed]


def _require_lmevaljob_api(kube: Kube) -> None:
    """No LMEvalJob API is a missing prerequisite (exit 4, as provision says), not a usage error."""
    from lmeval_setup.provision.run import require_lmevaljob_api

    require_lmevaljob_api(kube)
