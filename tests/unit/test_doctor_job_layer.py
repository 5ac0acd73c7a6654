"""JobLayer judges each job it is handed once: finish() hands every namespace over again after the
per-namespace lists did, and at 2,000 jobs judging them all again was a third of collect's own work."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lmeval_setup.doctor import collect as C
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R


def _succeeded(ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
            "metadata": {"name": name, "namespace": ns},
            "status": {"state": "Complete", "reason": "Succeeded", "podName": name,
                       "completeTime": "2026-01-01T00:01:00Z"}}


def test_a_job_handed_over_twice_is_judged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    real = C._needs_attention

    def counting(job: dict[str, Any]) -> bool:
        judged.append(job["metadata"]["name"])
        return real(job)

    monkeypatch.setattr(C, "_needs_attention", counting)
    jobs = [_succeeded(f"ns-{n}", f"eval-{i}") for n in range(2) for i in range(3)]
    with C.JobLayer(None, Snapshot(), threading.Lock()) as layer:  # type: ignore[arg-type]  # healthy: no reads
        for ns in ("ns-0", "ns-1"):
            layer.namespace_listed(ns, [j for j in jobs if j["metadata"]["namespace"] == ns])
        layer.namespace_listed("ns-1", [*jobs[3:], _succeeded("ns-1", "eval-new")])  # a namespace in two runs
        layer.finish(jobs)
    assert sorted(judged) == sorted([*(j["metadata"]["name"] for j in jobs), "eval-new"])
