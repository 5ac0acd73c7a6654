"""`lmeval-setup sandbox`: a local OpenShift AI stand-in on a real etcd + kube-apiserver.

State lives in ${XDG_STATE_HOME:-~/.local/state}/lmeval-setup/sandbox/<name>/ (or --state-dir), 0700:
  .lmeval-sandbox       the marker `up` writes first; `down` removes only a directory that has it
  sandbox.json          profile, scenario, the runner's process group
  controlplane/         the control plane's directory (kubeconfig, certificates, etcd data, logs)
Every process runs in its own session; `down` kills each recorded process group and removes the state.
The rules for names and directories are in lmeval_setup/sandbox/state.py.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from lmeval_setup.cli.completion import complete_profiles, complete_scenarios
from lmeval_setup.errors import ClusterError, PrerequisiteError, UsageError
from lmeval_setup.sandbox.state import SandboxState, default_state_dir, resolve_state_dir

__all__ = ["SandboxState", "default_state_dir", "sandbox"]


def _controlplane_dir(state_dir: Path) -> Path:
    return state_dir / "controlplane"


def _kubeconfig(state_dir: Path) -> Path:
    return _controlplane_dir(state_dir) / "kubeconfig"


def _connect(kubeconfig: Path) -> Any:
    """The sandbox's client; under -v every request it makes is logged on stderr, as for every command."""
    from lmeval_setup.cli.verbosity import trace_requests
    from lmeval_setup.kube.client import Kube

    return trace_requests(Kube.connect(str(kubeconfig)))


def _apiserver_answers(state_dir: Path) -> bool:
    if not _kubeconfig(state_dir).exists():
        return False
    try:
        kube = _connect(_kubeconfig(state_dir))
        kube.request("GET", "/readyz", accept="text/plain", raw=True, timeout=3)
    except Exception:  # any failure means: not up
        return False
    return True


def _is_up(state_dir: Path, state: SandboxState | None) -> bool:
    from lmeval_setup.sandbox.controlplane import group_alive

    return state is not None and group_alive(state.runner_pgid) and _apiserver_answers(state_dir)


def _stop_everything(state_dir: Path, state: SandboxState | None) -> bool:
    """Kill the runner's and the control plane's process groups. True if anything was recorded.

    Only groups that are still ours: a state file outliving its processes may name someone else's.
    """
    from lmeval_setup.sandbox.controlplane import (
        ControlPlaneState,
        group_alive,
        kill_groups,
        recorded_group_is_ours,
        stop_recorded,
    )

    stopped = False
    runner = state.runner_pgid if state is not None else None
    runner_ours = bool(runner) and recorded_group_is_ours(int(runner or 0), str(_controlplane_dir(state_dir)))
    groups = [runner] if runner_ours else []
    plane = ControlPlaneState.load(_controlplane_dir(state_dir))
    groups += [g for g in plane.pgids.values() if recorded_group_is_ours(g, plane.workdir)] if plane else []
    if runner_ours:
        kill_groups({"runner": int(runner or 0)}, grace=5.0)
        stopped = True
    if _controlplane_dir(state_dir).exists():
        stopped = stop_recorded(_controlplane_dir(state_dir)) or stopped
    # SIGKILLed processes linger until their new parent reaps them: leave only once they are gone.
    deadline = time.monotonic() + 5.0
    while any(group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    return stopped


def _state_dir_option(func: Any) -> Any:
    func = click.option(
        "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="Where the sandbox keeps its state (default: $XDG_STATE_HOME/lmeval-setup/sandbox/NAME).",
    )(func)
    func = click.option("--name", default="default", show_default=True,
                        help="Sandbox name, a DNS label (several may coexist).")(func)
    return func


def _resolve(name: str, state_dir: Path | None) -> Path:
    return resolve_state_dir(name, state_dir)


def _export_line(state_dir: Path) -> str:
    """For eval: quoted, so a path with spaces or shell syntax stays one word and runs nothing."""
    return f"export KUBECONFIG={shlex.quote(str(_kubeconfig(state_dir)))}"


def _down_command(ctx: click.Context, name: str) -> str:
    """The `down` that addresses the same sandbox as this invocation, ready to paste."""
    state_dir = ctx.params.get("state_dir")
    where = f" --state-dir {shlex.quote(str(state_dir))}" if state_dir is not None else f" --name {name}"
    return "lmeval-setup sandbox down" + where


def _explicit(ctx: click.Context, *names: str) -> bool:
    return any(ctx.get_parameter_source(n) not in (None, click.core.ParameterSource.DEFAULT) for n in names)


@click.group()
def sandbox() -> None:
    """A local OpenShift AI / Open Data Hub stand-in: real apiserver, simulated operators and kubelet."""


@sandbox.command()
@click.option("--profile", default="rhoai-2.25", show_default=True, shell_complete=complete_profiles,
              help="Release to model (see `sandbox profiles`).")
@click.option("--scenario", default="fresh", show_default=True, shell_complete=complete_scenarios,
              help="State to bring it to (see `sandbox profiles`).")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for the scenario to be ready.")
@_state_dir_option
@click.pass_context
def up(ctx: click.Context, profile: str, scenario: str, timeout: float, name: str, state_dir: Path | None) -> None:
    """Start the control plane, install PROFILE, run the simulators, bring it to SCENARIO."""
    from lmeval_setup.sandbox import state as S
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, missing_binaries
    from lmeval_setup.sandbox.profiles import get_profile
    from lmeval_setup.sandbox.scenarios import get_scenario

    chosen, plan = get_profile(profile), get_scenario(scenario)
    directory = _resolve(name, state_dir)
    S.require_ours(directory)  # before reading, killing or replacing anything in it
    existing = SandboxState.load(directory)
    if _is_up(directory, existing):
        assert existing is not None
        _already_up(ctx, name, existing, directory)
        return
    missing = missing_binaries()
    if missing:
        raise PrerequisiteError(f"control-plane binaries missing: {', '.join(missing)}", hint=BUILD_HINT)
    _stop_everything(directory, existing)  # leftovers of a crashed sandbox
    S.claim(directory, name)
    began = time.monotonic()
    try:
        _bring_up(directory, chosen, plan, timeout)
    except BaseException:
        _stop_everything(directory, SandboxState.load(directory))
        S.remove(directory)
        raise
    click.echo(f"sandbox {name!r} up in {time.monotonic() - began:.1f}s: {chosen.name}, scenario {plan.name}")
    click.echo(_export_line(directory))


def _already_up(ctx: click.Context, name: str, existing: SandboxState, directory: Path) -> None:
    """Up is idempotent for what runs; asking for another profile or scenario is an error, not a no-op."""
    wanted = (ctx.params["profile"], ctx.params["scenario"])
    if _explicit(ctx, "profile", "scenario") and wanted != (existing.profile, existing.scenario):
        raise UsageError(
            f"sandbox {name!r} is up with profile {existing.profile}, scenario {existing.scenario}; "
            f"it cannot become {wanted[0]}, scenario {wanted[1]} in place",
            hint=f"{_down_command(ctx, name)} first, or use another --name",
        )
    click.echo(f"sandbox {name!r} is already up (profile {existing.profile}, scenario {existing.scenario})")
    click.echo(_export_line(directory))


def _bring_up(directory: Path, profile: Any, plan: Any, timeout: float) -> None:
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.profiles import install_profile
    from lmeval_setup.sandbox.scenarios import wait_for

    state = SandboxState(profile.name, plan.name, runner_pgid=None, created=time.time())
    state.save(directory)
    plane = ControlPlane(_controlplane_dir(directory), stop_at_exit=False)
    plane.start()  # processes run in their own sessions: they outlive this command
    kube = _connect(plane.kubeconfig)
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
    """Stop every sandbox process and remove its state (only a directory `up` created)."""
    from lmeval_setup.sandbox import state as S

    directory = _resolve(name, state_dir)
    if directory.exists() or directory.is_symlink():
        S.require_ours(directory)
        if not S.has_marker(directory):  # empty, and not ours either: nothing to stop, nothing to delete
            raise UsageError(f"{directory} is not a sandbox directory (no {S.MARKER_FILE} marker); "
                             "refusing to remove it")
    state = SandboxState.load(directory)
    stopped = _stop_everything(directory, state)
    S.remove(directory)
    click.echo(f"sandbox {name!r} {'stopped and removed' if stopped else 'was not running'}")


@sandbox.command()
@_state_dir_option
def status(name: str, state_dir: Path | None) -> None:
    """Profile, scenario, uptime; each component, real or simulated, with its PID and port; the DSC."""
    from lmeval_setup.platform import releases as R
    from lmeval_setup.sandbox import profiles as P
    from lmeval_setup.sandbox.controlplane import K8S_VERSION, ControlPlaneState, group_alive
    from lmeval_setup.sandbox.status import HEADER, format_uptime, read_runner_state, real_rows, simulated_rows

    directory = _resolve(name, state_dir)
    state = SandboxState.load(directory)
    if state is None:
        raise UsageError(f"no sandbox {name!r} (start one with: lmeval-setup sandbox up)")
    plane = ControlPlaneState.load(_controlplane_dir(directory))
    uptime = f", up {format_uptime(time.time() - state.created)}" if state.created else ""
    click.echo(f"sandbox {name!r}: profile {state.profile}, scenario {state.scenario}{uptime}")
    click.echo(HEADER)
    rows = real_rows(plane.pgids if plane else {}, plane.ports if plane else {}, group_alive, K8S_VERSION)
    rows += simulated_rows(state.runner_pgid, read_runner_state(_controlplane_dir(directory)), group_alive)
    for row in rows:
        click.echo(row.line())
    if not _apiserver_answers(directory):
        raise ClusterError("the sandbox's apiserver does not answer (lmeval-setup sandbox down, then up)")
    profile = P.get_profile(state.profile)
    kube = _connect(_kubeconfig(directory))
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
    click.echo(_export_line(directory))


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

