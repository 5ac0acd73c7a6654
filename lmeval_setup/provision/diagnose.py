"""Ask the doctor why one job failed, and lint a job before it is applied.

Both are thin adapters: the rules live in `lmeval_setup.rules` (lint) and `lmeval_setup.doctor`
(live diagnosis), so provision reports the same IDs and fixes as `lmeval-setup lint` and
`lmeval-setup doctor` would.
"""

from __future__ import annotations

from typing import Any

from lmeval_setup.errors import PrerequisiteError
from lmeval_setup.kube.client import Kube
from lmeval_setup.platform.detect import ClusterFacts
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.rules.finding import Finding

JSON = dict[str, Any]


class ClusterNotReady(PrerequisiteError):
    """A cluster-level cause that stops every job (exit 4); `findings` says which, with the fix."""

    def __init__(self, findings: list[Finding]) -> None:
        ids = ", ".join(sorted({f.rule_id for f in findings}))
        super().__init__(f"TrustyAI cannot run LMEvalJobs on this cluster ({ids}); nothing was applied",
                         hint="lmeval-setup bootstrap")
        self.findings = findings


def require_cluster_ready(facts: ClusterFacts) -> None:
    """TrustyAI not Managed (LME101) wins over what it makes the job look like (LME001: the permissions
    it would grant are absent), as in the doctor: no job can run until it is enabled."""
    from lmeval_setup.rules.cluster import trustyai_not_managed

    if facts.trustyai_state != "Managed":
        raise ClusterNotReady(trustyai_not_managed(facts))


def lint_job(job: JSON, permissions: Permissions | None, release: Any = None) -> list[Finding]:
    """The spec rules, judged by `release`'s LMEvalJob CRD when the cluster's line is known."""
    from lmeval_setup.rules.spec import spec_findings

    return spec_findings(job, permissions, release=release)


def diagnose_job(kube: Kube, namespace: str, name: str) -> list[Finding]:
    """The doctor's findings for one job (cluster, spec, status, pod, events and logs)."""
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    return evaluate(collect(kube, Scope(namespace=namespace, job=name))).findings
