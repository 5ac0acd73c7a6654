"""Run playbooks/bootstrap.yml or revert.yml through ansible-runner, and summarise the events.

Pitfalls this avoids (../shared/reference/ansible-stack.md §3): a fresh private data dir per run,
removed afterwards (runner's artifacts/<id>/command holds the whole environment); suppress_env_files
so no earlier run's env/cmdline leaks into this one; the module interpreter pinned to sys.executable
(the modules import lmeval_setup); the venv's bin first on PATH (runner spawns a bare
ansible-playbook); absolute paths (runner's cwd is the project dir); ANSIBLE_HOME, ANSIBLE_REMOTE_TMP
and TMPDIR (kubernetes.core's discovery cache) inside the private dir; and a timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.bootstrap.ansible_support import REASON_EXIT_CODES
from lmeval_setup.errors import ExitCode, PrerequisiteError, UsageError

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[2]
PREREQUISITE_RULES = ("[LME108]", "[LME109]")
# kubernetes.core reports a dead or unreachable apiserver as a urllib3 error text, with no `reason`.
_CONNECTION_FAILURES = ("Connection refused", "Failed to establish a new connection", "Max retries exceeded",
                        "Connection aborted", "RemoteDisconnected", "Connection reset", "timed out")
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass
class RunOptions:
    playbook: str  # "bootstrap" or "revert"
    inventory: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    limit: str | None = None
    dry_run: bool = False
    diff: bool = False
    allow_online: bool | None = None  # None: the role default / the inventory's value
    allow_code_execution: bool | None = None
    timeout: int = 1800
    forks: int = 10
    wait_timeout: int | None = None  # None: the role defaults (TrustyAI ready 600 s, rollout 300 s)


@dataclass
class Step:
    host: str
    task: str
    status: str  # ok | changed | failed | skipped | unreachable
    msg: str = ""
    reason: str = ""
    diff: Any = None  # before/after of the object this step changed (only with --diff)


@dataclass
class ClusterResult:
    name: str
    steps: list[Step] = field(default_factory=list)
    facts: JSON | None = None
    plan: JSON | None = None
    restarted: bool = False
    restored: list[JSON] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def failure(self) -> Step | None:
        return next((s for s in self.steps if s.status in ("failed", "unreachable")), None)

    @property
    def exit_code(self) -> int:
        failure = self.failure
        if failure is None:
            return ExitCode.OK
        if failure.status == "unreachable":
            return ExitCode.CLUSTER
        if failure.reason in REASON_EXIT_CODES:
            return REASON_EXIT_CODES[failure.reason]
        if failure.msg.startswith(PREREQUISITE_RULES):
            return ExitCode.PREREQUISITE
        return ExitCode.FINDINGS


@dataclass
class RunResult:
    playbook: str
    dry_run: bool
    status: str
    rc: int
    clusters: dict[str, ClusterResult]

    @property
    def exit_code(self) -> int:
        if self.status == "timeout":
            return ExitCode.TIMEOUT
        codes = [c.exit_code for c in self.clusters.values()]
        if not codes and self.status != "successful":
            return ExitCode.INTERNAL
        return max(codes, default=ExitCode.OK)


def project_dir() -> Path:
    """The repository root holding ansible.cfg, playbooks/ and ansible/ (override: LMEVAL_ANSIBLE_DIR)."""
    root = Path(os.environ.get("LMEVAL_ANSIBLE_DIR") or REPO_ROOT).resolve()
    if not (root / "playbooks" / "bootstrap.yml").is_file():
        raise PrerequisiteError(f"playbooks not found under {root}", hint="set LMEVAL_ANSIBLE_DIR to the checkout")
    return root


def collections_path(root: Path) -> str:
    vendored = Path(sys.prefix) / "share" / "lmeval-setup" / "collections"
    return os.pathsep.join([str(root / "ansible" / "collections"), str(vendored)])


def environment(root: Path, private: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    for sub in ("home", "tmp", "remote_tmp"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": collections_path(root),
        "ANSIBLE_ROLES_PATH": str(root / "ansible" / "roles"),
        "ANSIBLE_HOME": str(private / "home"),
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(private / "remote_tmp"),
        "TMPDIR": str(private / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }


def single_cluster_inventory(kubeconfig: str | None, context: str | None) -> JSON:
    host: JSON = {"ansible_connection": "local"}
    if kubeconfig:
        host["lmeval_kubeconfig"] = os.path.abspath(os.path.expanduser(kubeconfig))
    if context:
        host["lmeval_context"] = context
    return {"all": {"hosts": {context or "cluster": host}}}


def extravars(opts: RunOptions) -> JSON:
    values: JSON = {"ansible_python_interpreter": sys.executable}
    # Only flags the user gave: otherwise a fleet inventory's per-cluster choice stands.
    if opts.allow_online is not None:
        values["lmeval_allow_online"] = opts.allow_online
    if opts.allow_code_execution is not None:
        values["lmeval_allow_code_execution"] = opts.allow_code_execution
    if opts.wait_timeout is not None:
        values["lmeval_wait_timeout"] = values["lmeval_rollout_timeout"] = opts.wait_timeout
    if opts.inventory and (opts.kubeconfig or opts.context):
        raise UsageError("--inventory names each cluster's kubeconfig and context; drop --kubeconfig/--context")
    return values


def cmdline(opts: RunOptions) -> str:
    parts = []
    if opts.dry_run:
        parts.append("--check")
    if opts.diff:
        parts.append("--diff")
    if opts.limit:
        parts.append(f"--limit '{opts.limit}'")
    return " ".join(parts)


class EventCollector:
    """Turns runner events into per-cluster steps; optionally prints live progress."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self.clusters: dict[str, ClusterResult] = {}
        self.progress = progress

    def __call__(self, event: JSON) -> bool:
        kind = event.get("event", "")
        if kind not in _RESULT_EVENTS:
            return True
        data = event.get("event_data", {})
        host = str(data.get("host", "?"))
        res = data.get("res") or {}
        status = _RESULT_EVENTS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        task = str(data.get("task", "")).split(" : ", 1)[-1]
        step = Step(host, task, status, _clean(res.get("msg", "")) if status in ("failed", "unreachable") else "",
                    str(res.get("reason", "")), res.get("diff") if status == "changed" else None)
        if step.status == "failed" and not step.reason:
            step.reason, step.msg = connection_failure(step.msg, task) or ("", step.msg)
        cluster = self.clusters.setdefault(host, ClusterResult(host))
        cluster.steps.append(step)
        self._remember(cluster, task, status, res)
        if self.progress and status != "skipped":
            self.progress(f"[{host}] {status:<9} {task}")
        return True

    @staticmethod
    def _remember(cluster: ClusterResult, task: str, status: str, res: JSON) -> None:
        if status in ("skipped", "failed") or not isinstance(res, dict):
            return
        if "facts" in res and isinstance(res["facts"], dict):
            cluster.facts = res["facts"]
            cluster.plan = res.get("plan") or cluster.plan
        if res.get("restarted"):
            cluster.restarted = True
        if isinstance(res.get("restored"), list):
            cluster.restored = res["restored"]


def connection_failure(msg: str, task: str) -> tuple[str, str] | None:
    """("unreachable", one line) when a kubernetes.core task failed because the apiserver went away
    mid-run; the raw text is a nested urllib3 repr that helps nobody."""
    if not any(marker in msg for marker in _CONNECTION_FAILURES):
        return None
    where = _HOST_PORT.search(msg)
    server = f" at https://{where.group(1)}:{where.group(2)}" if where else ""
    why = "connection refused" if "refused" in msg else "connection failed"
    return "unreachable", (f"cannot reach the cluster{server} ({why}) during '{task}'; "
                           "bootstrap is safe to re-run once the cluster answers")


def _clean(msg: object) -> str:
    text = " ".join(str(msg).split())
    for prefix in ("Task failed: ", "Module failed: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def run(opts: RunOptions, progress: Callable[[str], None] | None = None) -> RunResult:
    import ansible_runner  # lazy: heavy

    root = project_dir()
    private = Path(tempfile.mkdtemp(prefix="lmeval-setup-run-"))
    collector = EventCollector(progress)
    try:
        inventory: Any = (str(Path(opts.inventory).resolve()) if opts.inventory
                          else single_cluster_inventory(opts.kubeconfig, opts.context))
        result = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(root),
            playbook=str(root / "playbooks" / f"{opts.playbook}.yml"),
            inventory=inventory,
            extravars=extravars(opts),
            envvars=environment(root, private),
            cmdline=cmdline(opts) or None,
            forks=opts.forks,
            suppress_env_files=True,
            quiet=True,
            timeout=opts.timeout,
            event_handler=collector,
        )
        return RunResult(opts.playbook, opts.dry_run, str(result.status), int(result.rc or 0), collector.clusters)
    finally:
        shutil.rmtree(private, ignore_errors=True)
