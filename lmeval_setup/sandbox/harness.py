"""An in-process sandbox for tests: profile + simulators as threads on a control plane you own.

    from lmeval_setup.sandbox.harness import running_sandbox

    def test_something(new_controlplane):
        with running_sandbox(new_controlplane, "rhoai-2.25", "broken-jobs") as sb:
            sb.kube            # a Kube connected as cluster admin
            sb.profile         # releases.Profile; sb.release is its Release row
            sb.namespace       # the applications namespace (redhat-ods-applications / opendatahub)
            sb.dsc()           # the DSC as the preferred version serves it
            sb.wait_for(lambda: ..., "what", timeout=30)
            sb.restart("platform-operator")   # stop + start one simulator (2.16 reverts on restart)
            sb.start("kubelet")               # start one left out with simulators=(...)

What it does, in order: install the profile's CRDs and seed objects with the scenario's options,
start the simulators (platform operator, kubelet, TrustyAI operator; missing modules are skipped
and listed in `sb.missing`), run the scenario's setup, wait until the scenario is ready (default
timeout 90 s), yield, then stop the simulators. The profile's cluster-scoped CRDs stay installed, so
give each different profile its own control plane (the `new_controlplane` fixture starts one in ~3 s);
several sandboxes of the same profile must not share one either, because the DSC is a singleton.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.kube.client import JSON, Kube
from lmeval_setup.platform.releases import Profile, Release
from lmeval_setup.sandbox import profiles as P
from lmeval_setup.sandbox import runner
from lmeval_setup.sandbox import scenarios as S


@dataclass
class Sandbox:
    kube: Kube
    profile: Profile
    _: KW_ONLY
    scenario: S.Scenario
    kubeconfig: str
    workdir: Path
    simulators: list[runner.RunningSimulator] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def release(self) -> Release:
        return self.profile.release

    @property
    def namespace(self) -> str:
        return self.release.default_applications_namespace

    def dsc(self) -> JSON:
        return self.kube.get(P.dsc_path(self.release, P.DSC_NAME))

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        S.wait_for(check, what, timeout)

    def simulator(self, name: str) -> runner.RunningSimulator:
        return next(s for s in self.simulators if s.name == name)

    def restart(self, name: str) -> None:
        """Stop one simulator and start a fresh instance (in-memory state is lost, as in a restart)."""
        old = self.simulator(name)
        runner.stop_simulators([old])
        self.simulators.remove(old)
        self.start(name)

    def start(self, name: str) -> None:
        """Start a simulator that is not running (e.g. the kubelet, after testing without it)."""
        started, _ = runner.start_simulators(self.kubeconfig, self.profile, only=(name,), workdir=self.workdir)
        self.simulators.extend(started)

    def settle_platform(self, timeout: float = 30.0) -> None:
        """Wait out the platform operator's reconcile in flight, if any: call it between annotating a ConfigMap
        managed=false and editing its data, or the edit may be put back
        (PlatformOperator.wait_out_reconcile_in_flight)."""
        platform = next((s for s in self.simulators if s.name == "platform-operator"), None)
        if platform is not None and not platform.instance.wait_out_reconcile_in_flight(timeout):
            raise AssertionError(f"the platform operator's reconcile did not end within {timeout:.0f} s")

    def failures(self) -> dict[str, list[str]]:
        return {s.name: s.failure for s in self.simulators if s.failure}


@contextmanager
def running_sandbox(controlplane: Any, profile: str | Profile = "rhoai-2.25", scenario: str = "fresh", *,
                    timeout: float = 90.0, simulators: tuple[str, ...] | None = None) -> Iterator[Sandbox]:
    """Install `profile` on `controlplane` (a started ControlPlane), bring it to `scenario`, yield a Sandbox.

    `simulators` limits which simulators run (names from runner.SIMULATORS); by default all that exist.
    """
    chosen = P.get_profile(profile) if isinstance(profile, str) else profile
    plan = S.get_scenario(scenario)
    kubeconfig = str(controlplane.kubeconfig)
    kube = Kube.connect(kubeconfig)
    P.install_profile(kube, chosen, plan.install(chosen))
    started, missing = runner.start_simulators(kubeconfig, chosen, only=simulators,
                                               workdir=Path(controlplane.workdir))
    box = Sandbox(kube, chosen, scenario=plan, kubeconfig=kubeconfig, workdir=Path(controlplane.workdir),
                  simulators=started, missing=missing)
    try:
        plan.setup(kube, chosen)
        S.wait_for(lambda: plan.ready(kube, chosen), f"scenario {plan.name} on {chosen.name}", timeout)
        yield box
    finally:
        runner.stop_simulators(box.simulators, timeout=10.0)
