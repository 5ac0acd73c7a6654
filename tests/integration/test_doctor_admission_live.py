"""Admission failures, live: the real TrustyAI controller (rhoai-3.5, LMEVAL_SANDBOX_OPERATOR=real) creates a
job's pod, the real kube-apiserver's ResourceQuota, LimitRanger and PodSecurity admission plugins refuse it, and the
controller copies the Forbidden error into status.message. The doctor names LME038 with that message as
evidence and the fix; `doctor --from-dir` on what `--collect` wrote finds the same (issue 14 item 2).

Not reproducible here, and covered from real object states in tests/unit/test_failure_classes.py instead:
OpenShift SCC denials (OpenShift's security.openshift.io/SecurityContextConstraint admission plugin is not part
of a plain kube-apiserver; the message there is the one its source, openshift/apiserver-library-go
sccadmission/admission.go, builds). Eviction, a crashing driver, a stalled job and a pod never shut down are
live in test_doctor_driver_live.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testsupport import wait_for

from lmeval_setup.kube.client import resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import rule
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import realoperator

pytestmark = pytest.mark.controlplane
NS = "admission-demo"
NS_LIMITS = "admission-limits"
NS_PSA = "admission-psa"


def _require_real(profile: str) -> None:
    from lmeval_setup.sandbox.profiles import get_profile

    missing = realoperator.missing_for_real(get_profile(profile))
    if missing:
        pytest.skip(f"real operator for {profile}: {missing}")


def _doctor(kube: Any) -> Any:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    snapshot = collect(kube, Scope(all_namespaces=True, jobs=("quota-job", "limit-job", "psa-job")))
    return snapshot, evaluate(snapshot)


def _failed_message(kube: Any, namespace: str, name: str, memory_limit: str | None = None,
                    security_context: dict[str, Any] | None = None) -> str:
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", namespace)
    args = {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL, "tokenizer": J.HF_TOKENIZER,
            "num_concurrent": "1", "max_retries": "3", "timeout": "300"}
    body = J.lmevaljob(name, "local-completions", args, allow_online=True, namespace=namespace)
    if memory_limit:  # the controller copies spec.pod.container.resources onto the main container
        body["spec"]["pod"] = {"container": {"resources": {"limits": {"memory": memory_limit}}}}
    if security_context:  # likewise spec.pod.container.securityContext
        body["spec"]["pod"] = {"container": {"securityContext": security_context}}
    kube.create(jobs, body)

    def failed() -> str | None:
        status = kube.get(f"{jobs}/{name}").get("status") or {}
        return status.get("message") if status.get("reason") == "Failed" else None

    return str(wait_for(f"the controller to fail {name}", failed, timeout=90))


def test_quota_and_limitrange_denials_are_lme038(new_controlplane: Any, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    from lmeval_setup.doctor.evaluate import evaluate
    from lmeval_setup.doctor.offline import read_dir
    from lmeval_setup.doctor.writer import write_dir
    from lmeval_setup.sandbox.harness import running_sandbox

    profile = "rhoai-3.5"
    _require_real(profile)
    monkeypatch.setenv(realoperator.ENV_SWITCH, "real")
    with running_sandbox(new_controlplane, profile, "bootstrapped") as sb:
        kube = sb.kube
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS}})
        quotas = resource_path("", "v1", "resourcequotas", NS)
        kube.create(quotas, {"metadata": {"name": "eval-quota"}, "spec": {"hard": {"pods": "0"}}})
        # The quota controller (kube-controller-manager) fills status.hard; admission compares against it.
        wait_for("the quota's status", lambda: (kube.get(f"{quotas}/eval-quota").get("status") or {}).get("hard"),
                 timeout=60)
        quota_message = _failed_message(kube, NS, "quota-job")
        assert "is forbidden: exceeded quota" in quota_message  # the apiserver's words, copied by the controller
        # A namespace of its own: the controller retries a refused job, so freeing the quota would let it run.
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {"name": NS_LIMITS}})
        kube.create(resource_path("", "v1", "limitranges", NS_LIMITS), {"metadata": {"name": "eval-limits"},
                                                                         "spec": {"limits": [{
                                                                             "type": "Container",
                                                                             "max": {"memory": "1Gi"}}]}})
        limit_message = _failed_message(kube, NS_LIMITS, "limit-job", memory_limit="2Gi")
        assert "maximum memory usage per Container is 1Gi" in limit_message
        # Pod Security admission (built into kube-apiserver, as on OpenShift) in a namespace that enforces
        # `restricted`, for a job container that runs as root (runAsUser: 0; the 3.5 controller forces
        # allowPrivilegeEscalation off and the apiserver refuses privileged with it).
        kube.create(resource_path("", "v1", "namespaces"), {"metadata": {
            "name": NS_PSA, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
        psa_message = _failed_message(kube, NS_PSA, "psa-job", security_context={"runAsUser": 0})
        assert 'violates PodSecurity "restricted:latest": runAsUser=0' in psa_message, psa_message

        snapshot, result = _doctor(kube)
        for name, text in (("quota-job", "exceeded quota"), ("limit-job", "maximum memory usage"),
                           ("psa-job", 'violates PodSecurity "restricted:latest"')):
            hits = [f for f in result.findings if f.rule_id == "LME038" and f.target.name == name]
            assert hits, [(f.rule_id, f.target.name, f.message) for f in result.findings]
            assert any(text in ev.text and ev.path == "status.message" for ev in hits[0].evidence)
        assert "quota" in rule("LME038").fix and "LimitRange" in rule("LME038").fix

        back = read_dir(write_dir(snapshot, tmp_path / "collected"))
        live = sorted((f.rule_id, f.target.name, f.message) for f in result.findings)
        assert sorted((f.rule_id, f.target.name, f.message) for f in evaluate(back, now=snapshot.collected_at)
                      .findings) == live
