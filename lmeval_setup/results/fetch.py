"""Read completed LMEvalJobs from a cluster: the named ones, or every job with results in a namespace."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lmeval_setup.errors import UsageError
from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform.lmevaljob import lmevaljob_path, require_lmevaljob_api
from lmeval_setup.platform.releases import LMEVAL_GROUP, LMEVAL_VERSION
from lmeval_setup.results.model import JobResult, has_results, job_result


def fetch_results(kube: Kube, namespace: str | None, names: Sequence[str],
                  warn: Callable[[str], None] = lambda _: None, selector: str | None = None) -> list[JobResult]:
    """Named jobs must all have results (UsageError otherwise); unnamed: the completed ones, by name.

    namespace None is -A: every namespace (one LIST); a name then means that job in whichever namespace
    holds it, and must be in exactly one. `selector` (-l) narrows the jobs by label as doctor -l does: only
    matching jobs are listed, and a named job must match it too.
    """
    if namespace is None:
        return _fetch_all_namespaces(kube, names, warn, selector)
    if names:
        found = []
        for name in names:
            job = kube.get_or_none(lmevaljob_path(namespace, name))
            if job is None:
                _require_lmevaljob_api(kube)  # "not found" on a cluster without the API would mislead
                raise UsageError(f"LMEvalJob {namespace}/{name} not found")
            _require_match(job, selector)
            found.append(job_result(job))
        return found
    return _completed(_matching(_list(kube, namespace), selector), _where(namespace, selector), warn)


def _labels_match(job: dict, selector: str | None) -> bool:  # type: ignore[type-arg]
    """kubectl's label selector on the job's labels, with the parser doctor -l uses (lint.kustomize)."""
    if not selector:
        return True
    from lmeval_setup.lint.kustomize import selector_matches

    return selector_matches(selector, (job.get("metadata") or {}).get("labels") or {})


def _matching(jobs: list[dict], selector: str | None) -> list[dict]:  # type: ignore[type-arg]
    return [j for j in jobs if _labels_match(j, selector)]


def _require_match(job: dict, selector: str | None) -> None:  # type: ignore[type-arg]
    if not _labels_match(job, selector):
        meta = job.get("metadata") or {}
        raise UsageError(f"LMEvalJob {meta.get('namespace')}/{meta.get('name')} does not match -l {selector}")


def _where(namespace: str | None, selector: str | None) -> str:
    where = namespace or "any namespace"
    return f"{where} matching -l {selector}" if selector else where


def _fetch_all_namespaces(kube: Kube, names: Sequence[str], warn: Callable[[str], None],
                          selector: str | None = None) -> list[JobResult]:
    jobs = _list(kube, None)
    if not names:
        return _completed(_matching(jobs, selector), _where(None, selector), warn)
    found = []
    for name in names:
        matches = [j for j in jobs if j["metadata"]["name"] == name]
        if not matches:
            raise UsageError(f"LMEvalJob {name} not found in any namespace")
        if len(matches) > 1:
            where = ", ".join(sorted(j["metadata"].get("namespace", "") for j in matches))
            raise UsageError(f"LMEvalJob {name} is in several namespaces ({where})", hint="choose one with -n")
        _require_match(matches[0], selector)
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
        prefix = "" if where.startswith("any namespace") else "namespace "
        raise UsageError(f"no completed LMEvalJobs with results in {prefix}{where}")
    return [job_result(j) for j in completed]


def _require_lmevaljob_api(kube: Kube) -> None:
    """No LMEvalJob API is a missing prerequisite (exit 4, as provision says), not a usage error."""
    require_lmevaljob_api(kube)
