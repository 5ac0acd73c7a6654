"""Failures are told apart by data the exception or the plan carries, never by class names or message text
(issue 18 item 4)."""

from __future__ import annotations

from lmeval_setup.bootstrap.ansible_support import reason_for
from lmeval_setup.bootstrap.runner import ClusterResult, Step
from lmeval_setup.bootstrap.wait import KServeMissing
from lmeval_setup.errors import ExitCode, OpenShiftAIMissing, PrerequisiteError, UsageError, WaitTimeout


def test_the_reason_is_the_exceptions_attribute() -> None:
    class KServeStillMissing(KServeMissing):  # a refinement keeps its parent's meaning
        pass

    assert reason_for(KServeStillMissing("InferenceService CRD missing")) == "kserve_missing"
    assert KServeMissing("x").rule == "LME108"
    assert reason_for(OpenShiftAIMissing("no DSC API")) == "no_openshift_ai"
    assert reason_for(WaitTimeout("still waiting")) == "timeout"
    assert reason_for(PrerequisiteError("something missing")) == "prerequisite"
    assert reason_for(PrerequisiteError("kueue", reason="kueue_managed")) == "kueue_managed"
    assert reason_for(UsageError("bad flag")) == "error"


def _blocked(msg: str, reason: str) -> ClusterResult:
    blocker = {"rule": "LME108" if reason == "kserve_missing" else "LME109", "reason": reason,
               "message": "m", "fix": "f"}
    return ClusterResult("c", steps=[Step("c", "Preflight | stop before any write", "failed", msg=msg)],
                         plan={"blockers": [blocker]})


def test_a_blocked_run_exits_4_whatever_the_message_says() -> None:
    assert _blocked("TrustyAI cannot become ready: KServe is missing", "kserve_missing").exit_code == \
        ExitCode.PREREQUISITE
    assert _blocked("DataScienceCluster default-dsc cannot be updated", "kueue_managed").exit_code == \
        ExitCode.PREREQUISITE
    unblocked = ClusterResult("c", steps=[Step("c", "Enable | patch", "failed", msg="[LME108] looks like one")])
    assert unblocked.exit_code == ExitCode.FINDINGS
