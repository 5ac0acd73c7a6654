"""A no-op bootstrap answered from the plan without ansible-runner (bootstrap/noop.py): the same report as
the role's real no-op run on a bootstrapped sandbox, and every pending change still runs the role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from testsupport import require_controlplane_binaries

from lmeval_setup.bootstrap import noop
from lmeval_setup.bootstrap.runner import RunOptions, RunResult, run
from lmeval_setup.cli.bootstrap import as_json, as_text
from lmeval_setup.sandbox import profiles as P

pytestmark = [pytest.mark.controlplane]

# The DSC layer: never restarts, so the scenario is a no-op at once (on 2.17-2.24 the scenario's operator may
# start in the second its ConfigMap is written, and a first real run would restart it).
PROFILE = "rhoai-2.25"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox

    require_controlplane_binaries()
    with ControlPlane(tmp_path_factory.mktemp("noop-plane")) as plane, \
            running_sandbox(plane, PROFILE, "bootstrapped") as sb:
        # The scenario's operator may have started in the second its ConfigMap was written ("cannot tell":
        # bootstrap restarts it once); a first real run settles that, as on a cluster bootstrapped before.
        if noop.answer(RunOptions("bootstrap", kubeconfig=sb.kubeconfig)) is None:
            assert run(RunOptions("bootstrap", kubeconfig=sb.kubeconfig)).exit_code == 0
        yield sb


def test_the_answer_equals_the_real_no_op_run(sandbox: Any) -> None:
    opts = RunOptions("bootstrap", kubeconfig=sandbox.kubeconfig)
    progress: list[str] = []
    fast = noop.answer(opts, progress.append)
    real = run(opts)
    assert fast is not None, "a bootstrapped cluster must be answered without Ansible"
    assert real.clusters["cluster"].count("changed") == 0, "the real run must be the no-op it is compared with"
    assert json.dumps(as_json(fast), sort_keys=True) == json.dumps(as_json(real), sort_keys=True)
    assert as_text(fast) == as_text(real) and fast.exit_code == real.exit_code == 0
    assert progress == [f"[cluster] {s.status:<9} {s.task}" for s in real.clusters["cluster"].steps
                        if s.status != "skipped"]


def test_every_pending_change_runs_the_role(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A permission to change (asked for, or drifted on the cluster), a dry run, -v or revert: the fast path
    declines, and the CLI then runs ansible-runner."""
    kubeconfig = sandbox.kubeconfig
    assert noop.answer(RunOptions("bootstrap", kubeconfig=kubeconfig, allow_online=False)) is None
    for opts in (RunOptions("bootstrap", kubeconfig=kubeconfig, dry_run=True),
                 RunOptions("bootstrap", kubeconfig=kubeconfig, verbosity=1),
                 RunOptions("revert", kubeconfig=kubeconfig)):
        assert noop.answer(opts) is None
    dsc = P.dsc_path(sandbox.release, P.DSC_NAME)
    lmeval = sandbox.dsc()["spec"]["components"]["trustyai"]["eval"]["lmeval"]
    sandbox.kube.merge_patch(dsc, {"spec": {"components": {"trustyai": {"eval": {"lmeval": {
        "permitCodeExecution": "deny"}}}}}})
    try:  # the cluster drifted from what bootstrap set: the role must patch it back
        assert noop.answer(RunOptions("bootstrap", kubeconfig=kubeconfig)) is None, "a patch is pending"
    finally:
        sandbox.kube.merge_patch(dsc, {"spec": {"components": {"trustyai": {"eval": {"lmeval": lmeval}}}}})

    ran: list[RunOptions] = []

    def fake_run(opts: RunOptions, *_: Any) -> RunResult:
        ran.append(opts)
        return RunResult("bootstrap", False, status="successful", rc=0, clusters={})

    from lmeval_setup.cli import main as cli_main

    monkeypatch.setattr("lmeval_setup.cli.bootstrap.run", fake_run)
    cli_main.main(["bootstrap", "--deny-online", "--kubeconfig", kubeconfig, "-o", "json", "-q"])  # exit 0
    assert len(ran) == 1 and ran[0].allow_online is False
