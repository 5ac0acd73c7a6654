"""`lmeval-setup sandbox`: a local OpenShift AI stand-in on a real etcd + kube-apiserver.

State lives in ${XDG_STATE_HOME:-~/.local/state}/lmeval-setup/sandbox/<name>/ (or --state-dir):
  sandbox.json          profile, scenario, the runner's process group
  controlplane/         the control plane's directory (kubeconfig, certificates, etcd data, logs)
Every process runs in its own session; `down` kills each recorded process group and removes the state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from lmeval_setup.errors import ClusterError, PrerequisiteError, UsageError

STATE_FILE = "sandbox.json"


@dataclass
class SandboxState:
    profile: str
    scenario: str
    runner_pgid: int | None = None
    created: float = 0.0

    def save(self, state_dir: Path) -> None:
        (state_dir / STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> SandboxState | None:
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def default_state_dir(name: str) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "lmeval-setup" / "sandbox" / name


def _controlplane_dir(state_dir: Path) -> Path:
    return state_dir / "controlplane"


def _kubeconfig(state_dir: Path) -> Path:
    return _controlplane_dir(state_dir) / "kubeconfig"


def _group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _apiserver_answers(state_dir: Path) -> bool:
    from lmeval_setup.kube.client import Kube

    if not _kubeconfig(state_dir).exists():
        return False
    try:
        kube = Kube.connect(str(_kubeconfig(state_dir)))
        kube.request("GET", "/readyz", accept="text/plain", raw=True, timeout=3)
    except Exception:  # any failure means: not up
        return False
    return True


def _is_up(state_dir: Path, state: SandboxState | None) -> bool:
    return state is not None and _group_alive(state.runner_pgid) and _apiserver_answers(state_dir)


def _stop_everything(state_dir: Path, state: SandboxState | None) -> bool:
    """Kill the runner's and the control plane's process groups. True if anything was recorded."""
    from lmeval_setup.sandbox.controlplane import ControlPlaneState, kill_groups, stop_recorded

    stopped = False
    groups = [state.runner_pgid] if state is not None and state.runner_pgid else []
    plane = ControlPlaneState.load(_controlplane_dir(state_dir))
    groups += list(plane.pgids.values()) if plane else []
    if state is not None and state.runner_pgid:
        kill_groups({"runner": state.runner_pgid}, grace=5.0)
        stopped = True
    if _controlplane_dir(state_dir).exists():
        stopped = stop_recorded(_controlplane_dir(state_dir)) or stopped
    # SIGKILLed processes linger until their new parent reaps them: leave only once they are gone.
    deadline = time.monotonic() + 5.0
    while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    return stopped


def _state_dir_option(func: Any) -> Any:
    func = click.option(
        "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Where the sandbox keeps its state (default: $XDG_STATE_HOME/lmeval-setup/sandbox/NAME).",
    )(func)
    func = click.option("--name", default="default", show_default=True,
                        help="Sandbox name (several may coexist).")(func)
    return func


def _resolve(name: str, state_dir: Path | None) -> Path:
    return state_dir if state_dir is not None else default_state_dir(name)


@click.group()
def sandbox() -> None:
    """A local OpenShift AI / Open Data Hub stand-in: real apiserver, simulated operators and kubelet."""


@sandbox.command()
@click.option("--profile", default="rhoai-2.25", show_default=True,
              help="Release to model (see `sandbox profiles`).")
@click.option("--scenario", default="fresh", show_default=True,
              help="State to bring it to (see `sandbox profiles`).")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for the scenario to be ready.")
@_state_dir_option
def up(profile: str, scenario: str, timeout: float, name: str, state_dir: Path | None) -> None:
    """Start the control plane, install PROFILE, run the simulators, bring it to SCENARIO."""
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, missing_binaries
    from lmeval_setup.sandbox.profiles import get_profile
    from lmeval_setup.sandbox.scenarios import get_scenario

    chosen, plan = get_profile(profile), get_scenario(scenario)
    directory = _resolve(name, state_dir)
    existing = SandboxState.load(directory)
    if _is_up(directory, existing):
        assert existing is not None
        click.echo(f"sandbox {name!r} is already up (profile {existing.profile}, scenario {existing.scenario})")
        if (existing.profile, existing.scenario) != (profile, scenario):
            click.echo("  to change profile or scenario: lmeval-setup sandbox down, then up again")
        click.echo(f"export KUBECONFIG={_kubeconfig(directory)}")
        return
    missing = missing_binaries()
    if missing:
        raise PrerequisiteError(f"control-plane binaries missing: {', '.join(missing)}", hint=BUILD_HINT)
    _stop_everything(directory, existing)  # leftovers of a crashed sandbox
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    began = time.monotonic()
    try:
        _bring_up(directory, chosen, plan, timeout)
    except BaseException:
        _stop_everything(directory, SandboxState.load(directory))
        shutil.rmtree(directory, ignore_errors=True)
        raise
    click.echo(f"sandbox {name!r} up in {time.monotonic() - began:.1f}s: {chosen.name}, scenario {plan.name}")
    click.echo(f"export KUBECONFIG={_kubeconfig(directory)}")


def _bring_up(directory: Path, profile: Any, plan: Any, timeout: float) -> None:
    from lmeval_setup.kube.client import Kube
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.profiles import install_profile
    from lmeval_setup.sandbox.scenarios import wait_for

    state = SandboxState(profile.name, plan.name, None, time.time())
    state.save(directory)
    plane = ControlPlane(_controlplane_dir(directory), stop_at_exit=False)
    plane.start()  # processes run in their own sessions: they outlive this command
    kube = Kube.connect(str(plane.kubeconfig))
    install_profile(kube, profile, plan.install(profile))
    log = (plane.workdir / "logs" / "runner.out").open("ab")
    runner = subprocess.Popen(
        [sys.executable, "-m", "lmeval_setup.sandbox.runner", "--workdir", str(plane.workdir),
         "--profile", profile.name],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    state.runner_pgid = runner.pid
    state.save(directory)
    plan.setup(kube, profile)
    wait_for(lambda: _runner_alive(runner, plane.workdir) and plan.ready(kube, profile),
             f"scenario {plan.name} on {profile.name}", timeout)


def _runner_alive(runner: subprocess.Popen[bytes], workdir: Path) -> bool:
    """Fail fast, with the reason, when the simulators' process died during `up`."""
    if runner.poll() is None:
        return True
    tail = (workdir / "logs" / "runner.out").read_text(errors="replace").strip().splitlines()[-1:]
    raise RunnerDied(f"the simulator runner exited with {runner.returncode}: {' '.join(tail)}")


class RunnerDied(PrerequisiteError):
    """The runner process is gone: waiting longer cannot help (wait_for only retries API errors)."""


@sandbox.command()
@_state_dir_option
def down(name: str, state_dir: Path | None) -> None:
    """Stop every sandbox process and remove its state."""
    directory = _resolve(name, state_dir)
    state = SandboxState.load(directory)
    stopped = _stop_everything(directory, state)
    shutil.rmtree(directory, ignore_errors=True)
    click.echo(f"sandbox {name!r} {'stopped and removed' if stopped else 'was not running'}")


@sandbox.command()
@_state_dir_option
def status(name: str, state_dir: Path | None) -> None:
    """Profile, scenario, processes and the DSC's TrustyAI state."""
    from lmeval_setup.kube.client import Kube
    from lmeval_setup.platform import releases as R
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.controlplane import ControlPlaneState

    directory = _resolve(name, state_dir)
    state = SandboxState.load(directory)
    if state is None:
        raise UsageError(f"no sandbox {name!r} (start one with: lmeval-setup sandbox up)")
    plane = ControlPlaneState.load(_controlplane_dir(directory))
    click.echo(f"sandbox {name!r}: profile {state.profile}, scenario {state.scenario}")
    groups = {**(plane.pgids if plane else {}), "runner": state.runner_pgid or 0}
    for proc, pgid in groups.items():
        click.echo(f"  {proc:<24} {'running' if _group_alive(pgid) else 'NOT running'} (pgid {pgid})")
    if not _apiserver_answers(directory):
        raise ClusterError("the sandbox's apiserver does not answer (lmeval-setup sandbox down, then up)")
    profile = P.get_profile(state.profile)
    kube = Kube.connect(str(_kubeconfig(directory)))
    dsc = kube.get_or_none(P.dsc_path(profile.release, P.DSC_NAME))
    if dsc is None:  # the profile never got installed (an `up` that died half way), or another cluster
        raise PrerequisiteError(f"the sandbox's cluster has no DataScienceCluster {P.DSC_NAME!r}",
                                hint="lmeval-setup sandbox down, then up")
    trustyai = dsc["spec"]["components"].get("trustyai", {}).get("managementState", "Removed")
    click.echo(f"  DataScienceCluster       {dsc['apiVersion']} {P.DSC_NAME}: trustyai {trustyai}")
    for cond in (dsc.get("status") or {}).get("conditions") or []:
        if cond["type"] in (profile.release.trustyai_condition, "Ready", "ProvisioningSucceeded"):
            detail = f"{cond.get('reason', '')} {cond.get('message', '')}".strip()
            click.echo(f"    {cond['type']:<22} {cond['status']:<8} {detail}")
    click.echo(f"  applications namespace   {profile.release.default_applications_namespace}"
               f" (operator Deployment {R.OPERATOR_DEPLOYMENT})")


@sandbox.command()
@_state_dir_option
def env(name: str, state_dir: Path | None) -> None:
    """Print `export KUBECONFIG=...` for the sandbox (eval "$(lmeval-setup sandbox env)")."""
    directory = _resolve(name, state_dir)
    if not _kubeconfig(directory).exists():
        raise UsageError(f"no sandbox {name!r} (start one with: lmeval-setup sandbox up)")
    click.echo(f"export KUBECONFIG={_kubeconfig(directory)}")


@sandbox.command()
def profiles() -> None:
    """The releases the sandbox can model, and its scenarios."""
    from lmeval_setup.sandbox.profiles import PROFILES, profile_summary
    from lmeval_setup.sandbox.scenarios import SCENARIOS

    click.echo("profiles:")
    for profile in PROFILES.values():
        s = profile_summary(profile)
        click.echo(f"  {s['name']:<11} {s['release']:<32} DSC {s['dsc_api']} (served {s['served']}); "
                   f"namespace {s['applications_namespace']}; permissions via {s['permissions']}")
    click.echo("scenarios:")
    for scenario in SCENARIOS.values():
        click.echo(f"  {scenario.name:<27} {scenario.description}")

