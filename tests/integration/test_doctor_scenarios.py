"""The doctor on the sandbox's scenarios: cluster rules where the scenario causes them, and the seed's
broken jobs on every profile (each mistake with its ID and fix, no error for the good job), then fixed on
the same sandbox with one `doctor --fix --yes --wait` (issue 19; helpers in fix_support.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fix_support import DEMO_PROFILE

from lmeval_setup.platform.releases import PROFILES

pytestmark = [pytest.mark.controlplane]


def _doctor(kube: Any, **scope: Any) -> Any:
    from lmeval_setup.doctor.collect import Scope, collect
    from lmeval_setup.doctor.evaluate import evaluate

    return evaluate(collect(kube, Scope(**scope)))


def _eventually(kube: Any, predicate: Any, timeout: float = 20.0, **scope: Any) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = _doctor(kube, **scope)
        if predicate(result) or time.monotonic() > deadline:
            return result
        time.sleep(1.0)


def _cluster_rules(result: Any) -> set[str]:
    return {f.rule_id for f in result.findings if f.target.kind != "LMEvalJob"}


@pytest.mark.parametrize(("profile", "scenario", "rule"), [
    ("rhoai-2.22", "unannotated-configmap-edit", "LME104"),
    ("rhoai-2.25", "unannotated-configmap-edit", "LME105"),  # the DSC's deny overrides the edit
    ("rhoai-2.22", "no-kserve", "LME108"),
    ("rhoai-3.5", "no-kserve", "LME108"),
    ("rhoai-3.0", "kueue-managed", "LME109"),
    ("rhoai-2.25", "fresh", "LME101"),
])
def test_cluster_rule_fires_in_its_scenario(new_controlplane: Any, profile: str, scenario: str, rule: str) -> None:
    from lmeval_setup.sandbox.harness import running_sandbox

    # Only the platform operator: the cluster layer is what these scenarios change.
    with running_sandbox(new_controlplane, profile, scenario, simulators=("platform-operator",)) as sb:
        if scenario == "unannotated-configmap-edit":
            # From 2.17 the platform reverts an unannotated edit at once; look inside that window by
            # stopping the platform operator and repeating the edit (as if it had not reconciled yet).
            from lmeval_setup.platform import releases as R
            from lmeval_setup.sandbox import runner
            from lmeval_setup.sandbox.scenarios import operator_configmap_path

            runner.stop_simulators([sb.simulator("platform-operator")], timeout=10.0)
            sb.simulators.clear()
            sb.kube.merge_patch(operator_configmap_path(sb.profile), {"data": {R.CM_ALLOW_ONLINE: "true"}})
        result = _eventually(sb.kube, lambda r: rule in _cluster_rules(r), all_namespaces=True)
        assert rule in _cluster_rules(result), [(f.rule_id, f.message) for f in result.findings]
        if rule == "LME108":  # one root cause: the missing operator is a consequence, not a second finding
            assert "LME107" not in _cluster_rules(result)


# make demo's line (DEMO_PROFILE, where the flow also checks the dry run, the read-only identity, a second
# --fix and --replace) runs in `make test`; the other lines are the soak tier (`make soak`, issue 15 item 5).
@pytest.mark.parametrize("profile", [p if p == DEMO_PROFILE else pytest.param(p, marks=pytest.mark.slow)
                                     for p in sorted(PROFILES)])
def test_broken_jobs_each_seed_mistake_reported_then_fixed_with_one_command(new_controlplane: Any,
                                                                            profile: str) -> None:
    """Each seed mistake is reported with its ID and fix (no error for the good job); then, on the same sandbox,
    the flow of `make demo` (issue 19): 5/5 failed -> ONE `doctor --fix --yes --wait` -> 5/5 succeeded, and a
    second doctor reports nothing for the corrected jobs. On make demo's line also: the dry run and a read-only
    identity write nothing, a second --fix is a no-op, --replace recreates a job under its own name."""
    from fix_support import (
        DEMO_PROFILE,
        dry_run_and_read_only_write_nothing,
        five_seeds_fixed_with_one_command,
        replace_in_place,
        second_fix_is_a_no_op,
        wait_all_complete,
    )

    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import runner
    from lmeval_setup.sandbox.harness import running_sandbox

    if runner.load_simulator("lmeval_setup.sandbox.trustyai_operator", "TrustyAIOperator") is None:
        pytest.skip("the TrustyAI operator simulator is not available yet: seed jobs never run")
    with running_sandbox(new_controlplane, profile, "broken-jobs") as sb:
        def settled(result: Any) -> bool:
            found: dict[str, set[str]] = {}
            for f in result.findings:
                if f.severity == "error":
                    found.setdefault(f.target.name, set()).add(f.rule_id)
            return all(seed.should_succeed or seed.expected_rule in found.get(seed.name, set())
                       for seed in J.SEED_JOBS)

        result = _eventually(sb.kube, settled, timeout=180, namespace=J.DEMO_NAMESPACE)
        _assert_each_seed_mistake_reported(result)
        if profile == DEMO_PROFILE:
            wait_all_complete(sb.kube, J.DEMO_NAMESPACE, sb.namespace)
            dry_run_and_read_only_write_nothing(new_controlplane, sb)
        five_seeds_fixed_with_one_command(sb)
        if profile == DEMO_PROFILE:
            second_fix_is_a_no_op(sb)
            replace_in_place(sb)


def _assert_each_seed_mistake_reported(result: Any) -> None:
    from lmeval_setup.sandbox import jobs as J

    by_job: dict[str, set[str]] = {}
    for f in result.findings:
        if f.severity == "error":
            by_job.setdefault(f.target.name, set()).add(f.rule_id)
    for seed in J.SEED_JOBS:
        if seed.should_succeed:
            assert seed.name not in by_job, by_job.get(seed.name)
        else:
            assert seed.expected_rule in by_job.get(seed.name, set()), (seed.name, by_job.get(seed.name))
            finding = next(f for f in result.findings if f.target.name == seed.name
                           and f.rule_id == seed.expected_rule)
            assert finding.rule.fix and finding.evidence
