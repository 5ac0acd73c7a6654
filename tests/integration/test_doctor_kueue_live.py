"""Kueue-managed LMEvalJobs on the real operator (issue 14 item 2): the real rhoai-2.25 manager with its Kueue
job manager (the manifests' odh-kueue overlay: --enable-services ...,JOB_MGR; sandbox switch
LMEVAL_SANDBOX_TRUSTYAI_OVERLAY=odh-kueue) and Kueue's real CRDs (sigs.k8s.io/kueue v0.6.2, the module that line
is built with, from the Go module cache or proxy).

What is live: the job manager (Kueue's own job framework inside the TrustyAI manager) makes a Workload for the
labelled job and keeps the job suspended (spec.suspend true, state Suspended); the unlabelled job is failed by
the controller ("job requires kueue.x-k8s.io/queue-name label"). What is not: no Kueue controller runs here, so
the Workload's QuotaReserved=False condition is written by the test exactly as Kueue v0.6.2's workload
controller writes it for a LocalQueue that does not exist (sandbox/kueue.py cites the source). The doctor names
LME034 for both jobs, the suspended one with Kueue's words from the Workload, at once (no 10-minute wait: Kueue's
verdict is final until a queue changes); `doctor --from-dir` on what `--collect` wrote finds the same.

rhoai-3.5 cannot run its job manager at all (it exits at start: its scheme lacks the v1beta2 Workload it
indexes), see sandbox/kueue.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testsupport import wait_for

from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import rule
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import kueue as K
from lmeval_setup.sandbox import platform_operator, realoperator

pytestmark = pytest.mark.controlplane
PROFILE = "rhoai-2.25"
NS = "kueue-live"
QUEUE = "team-queue"  # a LocalQueue nobody created


def _job(name: str, queue: str | None) -> dict[str, Any]:
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=True, namespace=NS)
    if queue:
        body["metadata"]["labels"] = {K.QUEUE_LABEL: queue}
    return body


def test_kueue_managed_jobs_that_never_start_are_explained(new_controlplane: Any, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir
    from lmeval_setup.sandbox.harness import running_sandbox
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile(PROFILE))
    if missing:
        pytest.skip(f"real operator for {PROFILE}: {missing}")
    source = K.module_dir(K.VERSION_FOR_API["v1beta1"])
    if source is None:
        pytest.skip("Kueue's CRDs: sigs.k8s.io/kueue v0.6.2 is neither in the Go module cache nor downloadable")
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")
    monkeypatch.setenv(platform_operator.OVERLAY_SWITCH, "odh-kueue")
    # The job manager watches Workloads: their CRD must exist before the manager starts.
    K.install_crds(Kube.connect(str(new_controlplane.kubeconfig)), source)
    with running_sandbox(new_controlplane, PROFILE, "bootstrapped") as sb:
        kube = sb.kube
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
        jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NS)
        kube.create(jobs, _job("queued", QUEUE))
        kube.create(jobs, _job("unlabelled", None))

        def job_status(name: str) -> dict[str, Any]:
            return kube.get(f"{jobs}/{name}").get("status") or {}

        workload = wait_for("the job manager's Workload for the labelled job",
                            lambda: next(iter(K.workloads_of(kube, "v1beta1", NS, "queued")), None), timeout=120)
        wait_for("the labelled job Suspended", lambda: job_status("queued").get("state") == "Suspended", timeout=60)
        wait_for("the unlabelled job Failed", lambda: job_status("unlabelled").get("reason") == "Failed", timeout=60)
        assert kube.get(f"{jobs}/queued")["spec"].get("suspend") is True
        assert workload["spec"]["queueName"] == QUEUE
        assert job_status("unlabelled").get("message") == "job requires kueue.x-k8s.io/queue-name label"

        # What Kueue's workload controller would write (no Kueue controller runs here).
        K.mark_inadmissible(kube, workload, *K.local_queue_missing(QUEUE))
        snapshot = collect(kube, Scope(namespace=NS))
        result = evaluate(snapshot)
        # The job manager rewrites a Workload it finds "not matching"; Kueue's condition stays.
        assert any(c.get("message") == f"LocalQueue {QUEUE} doesn't exist" for c in (
            K.workloads_of(kube, "v1beta1", NS, "queued")[0].get("status") or {}).get("conditions") or [])

    by_job = {(f.target.name, f.rule_id): f for f in result.findings}
    queued = by_job.get(("queued", "LME034"))
    assert queued is not None, [(f.target.name, f.rule_id, f.message) for f in result.findings]
    assert queued.message == f"Kueue does not admit the job from LocalQueue {QUEUE!r}: LocalQueue {QUEUE} doesn't exist"
    texts = {(ev.path, ev.text) for ev in queued.evidence}
    assert (f"workload/{workload['metadata']['name']}.status.conditions[QuotaReserved]",
            f"QuotaReserved False, Inadmissible: LocalQueue {QUEUE} doesn't exist") in texts, texts
    assert ("status.state", "state: Suspended, spec.suspend: True") in texts, texts
    unlabelled = by_job.get(("unlabelled", "LME034"))
    assert unlabelled is not None and any("queue-name label" in ev.text for ev in unlabelled.evidence)
    assert "LocalQueue" in rule("LME034").fix and "ClusterQueue" in rule("LME034").fix

    back = read_dir(write_dir(snapshot, tmp_path / "collected"))
    live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
    assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                  .findings) == live
