"""Ask the doctor why one job failed, and lint a job before it is applied.

Both are thin adapters: the rules live in `lmeval_setup.rules` (lint) and `lmeval_setup.doctor`
(live diagnosis), so provision reports the same IDs and fixes as `lmeval-setup lint` and
`lmeval-setup doctor` would.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.kube.client import Kube
from lmeval_setup.platform.detect import Permissions
from lmeval_setup.rules.finding import Finding

JSON = dict[str, Any]


def lint_job(job: JSON, permissions: Permissions | None) -> list[Finding]:
    from lmeval_setup.rules.spec import spec_findings

    return spec_findings(job, permissions)


def diagnose_job(kube: Kube, namespace: str, name: str) -> list[Finding]:
    """The doctor's findings for one job (cluster, spec, status, pod, events and logs)."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    return evaluate(collect(kube, Scope(namespace=namespace, job=name))).findings
