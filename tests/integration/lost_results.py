"""A succeeded job whose results the real controller lost to the driver's race (LME041), and its documented fix.

The driver of every line sets "Complete, Succeeded" before it reads lm-eval's results file; a status read in
between is stored for good (test_real_driver_results proves the window). Under load a sandbox job now and then
ends so. A test that needs a good job's results calls `with_results`: a job that has them is returned as is; one
that lost them must show the race's proof (its driver logged the results it then held: lm-eval wrote them) and
the doctor's LME041, and is then re-created under its name, as the rule's fix says, and waited for.
"""

from __future__ import annotations

import re
import time
from typing import Any

from lmeval_setup.fix.remediate import delete_for_reuse
from lmeval_setup.kube.client import JSON, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.status import status_findings, utcnow

# The driver's own account once it has read the results: `update status: job completed {"state": {...,
# "results":"{\"results\"..."}}` (updateCompleteStatus of every line).
DRIVER_HELD_RESULTS = re.compile(r'update status: job completed.*"results":"[^"]')
POD_CHECKING_INTERVAL = 10.0  # lmes-pod-checking-interval as every sandbox profile ships it


def _jobs(namespace: str) -> str:
    return resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace)


def with_results(kube: Kube, job: JSON, timeout: float = 300.0) -> JSON:
    status = job.get("status") or {}
    if status.get("results"):
        return job
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    assert (status.get("state"), status.get("reason")) == ("Complete", "Succeeded"), (name, status)
    log = kube.pod_log(namespace, status.get("podName") or name, "main")
    assert DRIVER_HELD_RESULTS.search(log), f"{name}: Succeeded without results, and its driver never held any\n" \
                                            f"{log[-3000:]}"
    assert "LME041" in {f.rule_id for f in status_findings(job, pod=None, pvcs=None, now=utcnow())}

    spec: dict[str, Any] = job["spec"]
    labels = job["metadata"].get("labels") or {}
    delete_for_reuse(kube, [(namespace, name)], POD_CHECKING_INTERVAL, lambda _: None)  # as --fix --replace does
    kube.create(_jobs(namespace), {"apiVersion": f"{R.LMEVAL_GROUP}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
                                   "metadata": {"name": name, "namespace": namespace, "labels": labels},
                                   "spec": spec})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        again = kube.get(f"{_jobs(namespace)}/{name}")
        if (again.get("status") or {}).get("state") == "Complete":
            assert (again["status"].get("results")), f"{name} lost its results twice: {again['status']}"
            return again
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for the re-created {name} to complete")
