"""What `sandbox status` shows about the processes: which components are real, which simulated, where.

Real: etcd, kube-apiserver and kube-controller-manager (controlplane.json: pids and ports). Simulated:
what the runner process runs (runner.json `components`, see runner.py); a simulator that runs a real
program (the TrustyAI operator's manager, lm-eval) reports it there with its commit or version, and
until one does, the row says "simulated". Pure functions of the state files, so they are unit-tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

REAL_PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager")
# Always shown, in this order, whether or not the runner reports them: what a job's fate depends on.
EXPECTED_COMPONENTS = ("platform-operator", "kubelet", "trustyai-operator", "lm-eval")
PER_JOB_COMPONENTS = ("lm-eval",)
_DEFAULT_DETAIL = {
    "etcd": "client-certificate TLS",
    "lm-eval": "no lm-eval process: jobs' main containers cannot run here (CreateContainerError says why)",
}


@dataclass(frozen=True)
class Row:
    component: str
    mode: str  # real | simulated | process
    _: KW_ONLY
    state: str  # running | NOT running | -
    pid: int | None = None
    port: int | None = None
    detail: str = ""

    def line(self) -> str:
        pid = str(self.pid) if self.pid else "-"
        port = str(self.port) if self.port else "-"
        return f"  {self.component:<24} {self.mode:<10} {self.state:<12} {pid:>8} {port:>6}  {self.detail}".rstrip()


HEADER = f"  {'component':<24} {'kind':<10} {'state':<12} {'pid':>8} {'port':>6}  detail"


def format_uptime(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def read_runner_state(workdir: Path) -> dict[str, Any]:
    """runner.json, or {} while the runner has not written it (or wrote something unreadable)."""
    try:
        data = json.loads((workdir / "runner.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def real_rows(pgids: dict[str, int], ports: dict[str, int], alive: Callable[[int], bool],
              version: str) -> list[Row]:
    rows = []
    for name in REAL_PROCESSES:
        pid = pgids.get(name)
        state = "running" if pid and alive(pid) else "NOT running"
        detail = _DEFAULT_DETAIL.get(name, version if name != "etcd" else "")
        rows.append(Row(name, "real", state=state, pid=pid, port=ports.get(name), detail=detail))
    return rows


def simulated_rows(runner_pid: int | None, runner_state: dict[str, Any], alive: Callable[[int], bool]) -> list[Row]:
    runner_up = bool(runner_pid) and alive(int(runner_pid or 0))
    rows = [Row("simulator runner", "process", state="running" if runner_up else "NOT running", pid=runner_pid)]
    components = runner_state.get("components") or {}
    names = [*EXPECTED_COMPONENTS, *sorted(set(components) - set(EXPECTED_COMPONENTS))]
    for name in names:
        rows.append(_component_row(name, components.get(name), runner_up))
    return rows


def _component_row(name: str, info: dict[str, Any] | None, runner_up: bool) -> Row:
    if info is None:
        if name == "lm-eval":
            return Row(name, "simulated", state="-", detail=_DEFAULT_DETAIL[name])
        return Row(name, "simulated", state="NOT running", detail="not reported by the runner")
    mode = str(info.get("mode") or "simulated")
    running = runner_up and info.get("running", True) is not False
    pid = info.get("pid") if isinstance(info.get("pid"), int) else None
    port = info.get("port") if isinstance(info.get("port"), int) else None
    facts = [f"{key} {info[key]}" for key in ("version", "commit") if info.get(key)]
    if info.get("detail"):
        facts.append(str(info["detail"]))
    if not facts and mode == "simulated":
        facts.append(_DEFAULT_DETAIL.get(name, "Python simulator, a thread of the runner"))
    state = "running" if running else "NOT running"
    if name in PER_JOB_COMPONENTS:  # runs in each job's pod, not as one long-lived process
        state = "per job" if runner_up else "NOT running"
    return Row(name, mode, state=state, pid=pid, port=port, detail=", ".join(f for f in facts if f))


def venv_package_version(python: Path, distribution: str) -> str | None:
    """The version of `distribution` installed in the venv of `python` (from its dist-info), or None."""
    venv = python.parent.parent
    wanted = distribution.lower().replace("-", "_")
    for metadata in sorted(venv.glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        name = metadata.parent.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if name.lower().replace("-", "_") == wanted:
            for line in metadata.read_text(errors="replace").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    return None
