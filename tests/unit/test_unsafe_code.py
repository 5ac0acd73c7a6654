"""Unsafe-code tasks (humaneval, mbpp) need --confirm_run_unsafe_code + HF_ALLOW_CODE_EVAL, which the TrustyAI
operator passes only from the 2.25 line on (Release.unsafe_code_flags, pinned by test_operator_sources.py).

Before 2.25 no permission makes such a task run: the doctor says so for LME010 and the rule's fix does not promise
otherwise. That the release rows are what each line's real controller does is checked against the pods the real
managers build (tests/integration/test_real_operator_pods.py) and live (test_lmeval_live.py: 2.22 vs 2.25).
"""

from __future__ import annotations

import pytest
from doctor_support import add_job, cluster_snapshot, lmevaljob, pod, with_status

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.platform import releases as R
from lmeval_setup.rules.catalog import RULES

UNSAFE_LOG = ("Traceback (most recent call last):\nValueError: Attempted to run task: humaneval which is marked as "
              "unsafe. Set confirm_run_unsafe_code=True to run this task.\n")
NEVER_PASSES = "never passes lm-eval --confirm_run_unsafe_code"


def _permitted_snapshot(profile: str) -> object:
    release = R.PROFILES[profile].release
    if release.permissions_read_per_job:
        return cluster_snapshot(profile, dsc_permit={"permitOnline": "allow", "permitCodeExecution": "allow"})
    return cluster_snapshot(profile, cm_data={R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"},
                            cm_annotations={R.MANAGED_ANNOTATION: "false"})


@pytest.mark.parametrize("profile", list(R.PROFILES))
def test_doctor_says_no_setting_runs_an_unsafe_task_before_225(profile: str) -> None:
    snap = _permitted_snapshot(profile)
    job = with_status(lmevaljob("coder", taskList={"taskNames": ["humaneval"]}, allowCodeExecution=True,
                                allowOnline=True),
                      state="Complete", reason="Failed", message="exit status 1")
    add_job(snap, job, pod("coder"), UNSAFE_LOG)  # type: ignore[arg-type]
    findings = [f for f in evaluate(snap).findings if f.rule_id == "LME010"]  # type: ignore[arg-type]
    assert len(findings) == 1, [f.rule_id for f in evaluate(snap).findings]  # type: ignore[arg-type]
    release = R.PROFILES[profile].release
    assert (NEVER_PASSES in findings[0].message) == (not release.unsafe_code_flags), findings[0].message


@pytest.mark.parametrize("profile", [n for n, p in R.PROFILES.items() if not p.release.unsafe_code_flags])
def test_spec_rule_on_an_old_release_says_the_same(profile: str) -> None:
    snap = _permitted_snapshot(profile)
    add_job(snap, lmevaljob("coder", taskList={"taskNames": ["mbpp"]}, allowOnline=True))  # type: ignore[arg-type]
    findings = [f for f in evaluate(snap).findings if f.rule_id == "LME010"]  # type: ignore[arg-type]
    assert findings and NEVER_PASSES in findings[0].message


def test_remote_code_datasets_are_not_called_unsafe_tasks() -> None:
    snap = cluster_snapshot("rhoai-2.22")
    log = ("Traceback (most recent call last):\nValueError: The repository for foo/bar contains custom code which "
           "must be executed to correctly load the dataset.\n")
    job = with_status(lmevaljob("ds", taskList={"taskNames": ["arc_easy"]}), state="Complete", reason="Failed",
                      message="exit status 1")
    add_job(snap, job, pod("ds"), log)  # type: ignore[arg-type]
    findings = [f for f in evaluate(snap).findings if f.rule_id == "LME010"]  # type: ignore[arg-type]
    assert findings and NEVER_PASSES not in findings[0].message


def test_lme010_fix_does_not_promise_unsafe_tasks_before_225() -> None:
    rule = RULES["LME010"]
    assert "2.25" in rule.fix and "no setting runs an unsafe-code task" in rule.fix
