"""Read completed LMEvalJobs from a cluster: the named ones, or every job with results in a namespace."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lmeval_setup.errors import UsageError
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform.lmevaljob import lmevaljob_path, require_lmevaljob_api
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION
from lmeval_setup.results.model import JobResult, has_results, job_result


def fetch_results(kube: Kube, namespace: str | None, names: Sequence[str],
                  warn: Callable[[str], None] = lambda _: None) -> list[JobResult]:
    """Named jobs must all have results (UsageError otherwise); unnamed: the completed ones, by name.

    namespace None is -A: every namespace (one LIST); a name then means that job in whichever namespace
    holds it, and must be in exactly one.
    """
    if namespace is None:
        return _fetch_all_namespaces(kube, names, warn)
    if names:
        found = []
        for name in names:
            job = kube.get_or_none(lmevaljob_path(namespace, name))
            if job is None:
                _require_lmevaljob_api(kube)  # "not found" on a cluster without the API would mislead
                raise UsageError(f"LMEvalJob {namespace}/{name} not found")
            found.append(job_result(job))
        return found
    return _completed(_list(kube, namespace), namespace, warn)


def _fetch_all_namespaces(kube: Kube, names: Sequence[str], warn: Callable[[str], None]) -> list[JobResult]:
    jobs = _list(kube, None)
    if not names:
        return _completed(jobs, "any namespace", warn)
    found = []
    for name in names:
        matches = [j for j in jobs if j["metadata"]["name"] == name]
        if not matches:
            raise UsageError(f"LMEvalJob {name} not found in any namespace")
        if len(matches) > 1:
            where = ", ".join(sorted(j["metadata"].get("namespace", "") for j in matches))
            raise UsageError(f"LMEvalJob {name} is in several namespaces ({where})", hint="choose one with -n")
        found.append(job_result(matches[0]))
    return found


def _list(kube: Kube, namespace: str | None) -> list[dict]:  # type: ignore[type-arg]
    try:
        return list(kube.list_items(resource_path(LMEVAL_GROUP, LMEVAL_VERSION, "lmevaljobs", namespace)))
    except ApiError as exc:
        if exc.not_found:
            _require_lmevaljob_api(kube)
        raise


def _completed(jobs: list[dict], where: str, warn: Callable[[str], None]) -> list[JobResult]:  # type: ignore[type-arg]
    completed = sorted((j for j in jobs if has_results(j)),
                       key=lambda j: (j["metadata"].get("namespace", ""), j["metadata"]["name"]))
    skipped = len(jobs) - len(completed)
    if skipped:
        warn(f"{skipped} job(s) in {where} have no results yet (running or failed)")
    if not completed:
        raise UsageError(f"no completed LMEvalJobs with results in {'namespace ' if where != 'any namespace' else ''}"
                         f"{where}")
    return [job_result(j) for j in completed]


def _require_lmevaljob_api(kube: Kube) -> None:
    """No LMEvalJob API is a missing prerequisite (exit 4, as provision says), not a usage error."""
    require_lmevaljob_api(kube)
