"""Run playbooks/bootstrap.yml or revert.yml through ansible-runner, and summarise the events.

Pitfalls this avoids (../shared/reference/ansible-stack.md §3): a fresh private data dir per run,
removed afterwards (runner's artifacts/<id>/command holds the whole environment); suppress_env_files
so no earlier run's env/cmdline leaks into this one; the module interpreter pinned to sys.executable
(the modules import lmeval_setup); the venv's bin first on PATH (runner spawns a bare
ansible-playbook); absolute paths (runner's cwd is the project dir); ANSIBLE_HOME, ANSIBLE_REMOTE_TMP
and TMPDIR (kubernetes.core's discovery cache) inside the private dir; and a timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from lmeval_setup.bootstrap.ansible_support import REASON_EXIT_CODES
from lmeval_setup.errors import ExitCode, PrerequisiteError, UsageError
from lmeval_setup.kube.client import (
    REQUEST_TIMEOUT_ENV,
    kubeconfig_error,
    kubeconfig_load_errors,
    kubeconfig_paths,
    merged_kubeconfig,
)
from lmeval_setup.redact import redact_text

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[2]
# kubernetes.core reports a dead or unreachable apiserver as a urllib3 error text, with no `reason`.
_CONNECTION_FAILURES = ("Connection refused", "Failed to establish a new connection", "Max retries exceeded",
                        "Connection aborted", "RemoteDisconnected", "Connection reset", "timed out")
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
# A run cut short: the shell's 128 + signal number for an interruption, 5 for --timeout.
CUT_EXIT_CODES: dict[str, int] = {
    "sigint": ExitCode.INTERRUPTED,
    "sigterm": ExitCode.TERMINATED,
    "timeout": ExitCode.TIMEOUT,
}
# Seconds ansible-playbook gets to stop after the forwarded signal before its process group is killed.
STOP_GRACE = 10.0
# How often ansible-runner's loop asks the cancel callback (its default, 5 s, delays every interruption).
POLL_SECONDS = 0.5
# A task running this long without an event gets a "still running" line, so CI logs show the run is alive.
HEARTBEAT_SECONDS = 30.0
# Ansible host patterns (names, groups, wildcards, ~regex, !exclusion, &intersection, [a:b] slices)
# never need whitespace, quotes or shell characters; a leading '-' would read as an option, '@' as a file.
_LIMIT_CHARS = re.compile(r"[\w.*?!&:,\[\]~^$()|+{}\\/=-]+")
_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass
class RunOptions:
    playbook: str  # "bootstrap" or "revert"
    # Everything after the playbook is named at the call site: ten positional booleans and strings are how
    # revert once passed its dry_run as diff.
    _: KW_ONLY
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
    request_timeout: float | None = None  # seconds per API request in our modules (kubectl --request-timeout)
    verbosity: int = 0  # ansible-playbook's -v count (the CLI's -v, -vv, -vvv)


@dataclass
class Step:
    host: str
    task: str
    _: KW_ONLY
    status: str  # ok | changed | failed | skipped | unreachable
    msg: str = ""
    reason: str = ""
    diff: Any = None  # before/after of the object this step changed (only with --diff)


@dataclass
class ClusterResult:
    name: str
    steps: list[Step] = field(default_factory=list)
    _: KW_ONLY
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
        if failure.reason in CUT_EXIT_CODES:
            return CUT_EXIT_CODES[failure.reason]
        if failure.reason in REASON_EXIT_CODES:
            return REASON_EXIT_CODES[failure.reason]
        # The role stops before any write when the plan has blockers (LME108, LME109): the plan says why.
        blockers = (self.plan or {}).get("blockers") or []
        if blockers:
            return REASON_EXIT_CODES.get(blockers[0].get("reason", ""), ExitCode.PREREQUISITE)
        return ExitCode.FINDINGS


@dataclass
class RunResult:
    playbook: str
    dry_run: bool
    _: KW_ONLY
    status: str
    rc: int
    clusters: dict[str, ClusterResult]
    cut: str | None = None  # "sigint", "sigterm" or "timeout" when the run was stopped before its end
    cut_message: str = ""  # the one line that says so
    ansible_errors: list[str] = field(default_factory=list)  # ansible-playbook's own [ERROR] lines

    @property
    def exit_code(self) -> int:
        if self.cut:
            return CUT_EXIT_CODES[self.cut]
        if self.status == "timeout":
            return ExitCode.TIMEOUT
        codes = [c.exit_code for c in self.clusters.values()]
        if not codes and self.status != "successful":
            return ExitCode.INTERNAL
        return max(codes, default=ExitCode.OK)


# sysconfig fills its configuration variables on first use, and on Python 3.11 without a lock: a second
# thread can read them half filled (AttributeError 'userbase'). Runs in threads of one process (five
# concurrent bootstraps) all ask at their start, so they ask one at a time.
_SYSCONFIG_LOCK = threading.Lock()


def installed_project_dirs() -> list[Path]:
    """Where the wheel puts ansible.cfg, playbooks/ and ansible/ (pyproject's data-files): the install scheme's
    data directory (the venv, or the system prefix), then the user scheme's (pip install --user)."""
    with _SYSCONFIG_LOCK:
        schemes = [sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")]
        data_dirs = [sysconfig.get_path("data", scheme) for scheme in schemes]
    return [Path(data) / "share" / "lmeval-setup" / "project" for data in data_dirs]


def project_dir() -> Path:
    """The directory holding ansible.cfg, playbooks/ and ansible/: LMEVAL_ANSIBLE_DIR when set, else the checkout
    this package runs from, else what the installed wheel carries (no checkout and no variable needed)."""
    override = os.environ.get("LMEVAL_ANSIBLE_DIR")
    candidates = [Path(override)] if override else [REPO_ROOT, *installed_project_dirs()]
    for root in candidates:
        if (root / "playbooks" / "bootstrap.yml").is_file():
            return root.resolve()
    raise PrerequisiteError(f"playbooks not found under {candidates[0]}",
                            hint="set LMEVAL_ANSIBLE_DIR to the checkout, or reinstall lmeval-setup")


def collections_path(root: Path) -> str:
    """lmeval.setup's collection root; kubernetes.core comes from the `ansible` package in site-packages."""
    return str(root / "ansible" / "collections")


def environment(root: Path, private: Path, request_timeout: float | None = None) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    for sub in ("home", "tmp", "remote_tmp"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    # Our modules' Kube.connect reads it: --request-timeout reaches every request they make.
    timeout = {REQUEST_TIMEOUT_ENV: str(request_timeout)} if request_timeout is not None else {}
    return {
        **timeout,
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": collections_path(root),
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
        paths = kubeconfig_paths(kubeconfig)
        host["lmeval_kubeconfig"] = os.pathsep.join(paths)
        if len(paths) > 1 and not context:
            # kubernetes.core's modules merge KUBECONFIG with the client library, where the LAST file's
            # current-context wins; kubectl (and our modules) take the first. Name it, so every task of
            # the run talks to the cluster kubectl would.
            merged = merged_kubeconfig(paths).config
            current = merged.value.get("current-context") if merged is not None else None
            if current:
                host["lmeval_context"] = current
    if context:
        host["lmeval_context"] = context
    return {"all": {"hosts": {context or "cluster": host}}}


def validate_limit(pattern: str | None) -> None:
    """A usage error for a --limit that is no Ansible host pattern (it reaches ansible-playbook as one argv item)."""
    if pattern is None:
        return
    if not pattern or not _LIMIT_CHARS.fullmatch(pattern) or pattern.startswith(("-", "@")):
        raise UsageError(f"--limit {pattern!r} is not an Ansible host pattern",
                         hint="names, groups, wildcards, ~regex, !exclusions, &intersections, separated by ','")
    for part in pattern.split(","):
        body = part.lstrip("!&")
        if not body:
            raise UsageError(f"--limit {pattern!r} has an empty pattern between separators")
        if body.startswith("~"):
            try:
                re.compile(body[1:])
            except re.error as exc:
                raise UsageError(f"--limit {pattern!r}: bad regular expression ({exc})") from None


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
    """Fixed flags only: ansible-runner shlex-splits this string, so nothing the user typed goes in here
    (--limit travels as runner's own list argument)."""
    parts = []
    if opts.dry_run:
        parts.append("--check")
    if opts.diff:
        parts.append("--diff")
    return " ".join(parts)


class EventCollector:
    """Turns runner events into per-cluster steps; optionally prints live progress, and ansible-playbook's
    own output (what it would print on a terminal at the run's verbosity) with every secret masked."""

    def __init__(self, progress: Callable[[str], None] | None = None,
                 ansible_output: Callable[[str], None] | None = None) -> None:
        self.clusters: dict[str, ClusterResult] = {}
        self.progress = progress
        self.ansible_output = ansible_output
        # host -> (task, monotonic start, monotonic of the last line about it): what each cluster is doing
        self.running: dict[str, tuple[str, float, float]] = {}
        self.ansible_errors: list[str] = []  # "[ERROR]: ..." that ansible-playbook printed (before any host ran)

    def __call__(self, event: JSON) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        self._show_output(event)
        if kind == "verbose" and str(event.get("stdout", "")).lstrip().startswith("[ERROR]:"):
            self.ansible_errors.append(_clean(str(event["stdout"]).strip()[len("[ERROR]:"):]))
            return True
        if kind == "runner_on_start":
            now = time.monotonic()
            self.running[str(data.get("host", "?"))] = (_task_name(data), now, now)
            return True
        if kind not in _RESULT_EVENTS:
            return True
        host = str(data.get("host", "?"))
        self.running.pop(host, None)
        res = data.get("res") or {}
        status = _RESULT_EVENTS[kind]
        if status == "ok" and res.get("changed"):
            status = "changed"
        task = _task_name(data)
        step = Step(host, task, status=status,
                    msg=_clean(res.get("msg", "")) if status in ("failed", "unreachable") else "",
                    reason=str(res.get("reason", "")), diff=res.get("diff") if status == "changed" else None)
        if step.status == "failed" and not step.reason:
            step.reason, step.msg = connection_failure(step.msg, task) or ("", step.msg)
        cluster = self.clusters.setdefault(host, ClusterResult(host))
        cluster.steps.append(step)
        self._remember(cluster, task, status, res)
        if self.progress and status != "skipped":
            self.progress(f"[{host}] {status:<9} {task}")
        return True

    def _show_output(self, event: JSON) -> None:
        """ansible-playbook's text for this event (task banners, results; at -vvv its module arguments),
        through the one redactor: a module result or an echoed argument may carry a credential."""
        text = str(event.get("stdout") or "")
        if self.ansible_output and text.strip():
            self.ansible_output(redact_text(text))

    def heartbeat(self, now: float | None = None) -> None:
        """A "still running" line for every task that has run HEARTBEAT_SECONDS since its last line:
        a wait for TrustyAI may take 600 s, which a CI log must not show as silence."""
        if not self.progress:
            return
        now = time.monotonic() if now is None else now
        for host, (task, started, said) in list(self.running.items()):
            if now - said >= HEARTBEAT_SECONDS:
                self.running[host] = (task, started, now)
                self.progress(f"[{host}] {'running':<9} {task} ({int(now - started)} s)")

    def in_progress(self, host: str) -> str | None:
        entry = self.running.get(host)
        return entry[0] if entry else None

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


def _task_name(data: JSON) -> str:
    return str(data.get("task", "")).split(" : ", 1)[-1]


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


class RunGuard:
    """Stops ansible-playbook and everything it started when the run is cut short: SIGINT, SIGTERM, --timeout.

    ansible-runner starts ansible-playbook through pexpect in a session of its own, and ansible's workers
    call setsid() (the module they run is in the worker's group), so a terminal's Ctrl-C or a CI runner's
    SIGTERM reaches only this process, and ansible-runner's own timeout kills only ansible-playbook's group:
    either way the worker and its module ran on as orphans. The guard signals the process group of every
    process this run started (never our own group, nor processes that existed before the run: a test runner
    or the control plane may be among them), gives them STOP_GRACE seconds, then SIGKILLs those groups.
    With a marker (the run's private data dir, on the command line of ansible-playbook, of its forked
    workers and of every module, which runs from the dir's remote_tmp) only those processes count, so
    runs in threads of one process never stop each other's. It owns --timeout for the same reason;
    ansible-runner's timeout stays as a backstop.
    """

    def __init__(self, timeout: float | None = None, marker: str | None = None) -> None:
        self.reason: str | None = None  # "sigint", "sigterm" or "timeout"
        self._deadline_run = time.monotonic() + timeout if timeout else None
        self._marker = marker
        self._before = _descendants()
        self._groups: set[int] = set()
        self._deadline = 0.0

    def stop(self, reason: str, signum: int, urgent: bool = False) -> None:
        self.reason = self.reason or reason
        self._groups |= _process_groups(self._before, self._marker)
        for group in self._groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signum)
        self._deadline = 0.0 if urgent else time.monotonic() + STOP_GRACE

    def handle(self, signum: int, _frame: object) -> None:
        """The SIGINT/SIGTERM handler; a second signal stops waiting."""
        reason = "sigterm" if signum == signal.SIGTERM else "sigint"
        self.stop(reason, signum, urgent=self.reason is not None)

    def cancel(self) -> bool:
        """ansible-runner's cancel callback (every POLL_SECONDS): True ends its loop."""
        if self.reason is None and self._deadline_run is not None and time.monotonic() >= self._deadline_run:
            self.stop("timeout", signal.SIGTERM)
        if self.reason is None:
            return False
        if not self._alive():
            return True
        if time.monotonic() >= self._deadline:
            self.kill()
            return True
        return False

    def kill(self) -> None:
        """SIGKILL every group the run started (seen now or when it was stopped), and wait until they are gone."""
        self._groups |= _process_groups(self._before, self._marker)
        for group in self._groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _alive(self) -> bool:
        """Does any process of those groups still run? (Zombies do not count: nothing reaps an orphan's
        zombie in some containers, and it holds nothing.)"""
        return any(group in self._groups for _, group in _processes().values())


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group), from /proc (Linux); {} elsewhere."""
    table: dict[int, tuple[int, int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return table
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z":  # a zombie holds nothing
            table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def _descendants(table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    table = _processes() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _process_groups(exclude: set[int], marker: str | None = None) -> set[int]:
    """Process groups of our descendants that were not there before the run (and, with a marker, name it
    on their command line); our own group never."""
    table = _processes()
    own = os.getpgrp()
    return {table[pid][1] for pid in _descendants(table) - exclude
            if table[pid][1] != own and (marker is None or marker in _cmdline(pid))}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def guarded_run(timeout: float | None, marker: str | None = None) -> Iterator[RunGuard]:
    """A RunGuard with SIGINT/SIGTERM handlers for the length of the run (handlers live in the main thread
    only; elsewhere the guard still owns --timeout). A cut run is swept once more on the way out."""
    guard = RunGuard(timeout, marker)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, guard.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if guard.reason is not None:
            guard.kill()


def run(opts: RunOptions, progress: Callable[[str], None] | None = None,
        ansible_output: Callable[[str], None] | None = None) -> RunResult:
    """ansible_output receives ansible-playbook's own output, redacted (the CLI gives it under -v)."""
    import ansible_runner  # lazy: heavy

    validate_limit(opts.limit)
    unusable = kubeconfig_failure(opts)
    if unusable is not None:  # nothing Ansible could do with it: one line naming the file, exit 3
        return RunResult(opts.playbook, opts.dry_run, status="failed", rc=0, clusters={unusable.name: unusable})
    root = project_dir()
    collector = EventCollector(progress, ansible_output)
    private: Path | None = None
    try:
        with _signals_deferred():  # a signal now would leave the directory behind, unnamed
            private = Path(tempfile.mkdtemp(prefix="lmeval-setup-run-"))
        inventory: Any = (str(Path(opts.inventory).resolve()) if opts.inventory
                          else single_cluster_inventory(opts.kubeconfig, opts.context))
        _write_runner_settings(private)
        with guarded_run(opts.timeout, str(private)) as guard:

            def cancel() -> bool:
                with contextlib.suppress(OSError):  # a closed stderr must not stop the run
                    collector.heartbeat()  # runner's loop calls this every POLL_SECONDS: a clock for free
                return guard.cancel()

            result = ansible_runner.run(
                private_data_dir=str(private),
                project_dir=str(root),
                playbook=str(root / "playbooks" / f"{opts.playbook}.yml"),
                inventory=inventory,
                extravars=extravars(opts),
                envvars=environment(root, private, opts.request_timeout),
                cmdline=cmdline(opts) or None,
                limit=opts.limit,
                forks=opts.forks,
                verbosity=opts.verbosity or None,
                suppress_env_files=True,
                quiet=True,
                # a backstop only: it kills ansible-playbook's group but not the workers' (see RunGuard)
                timeout=opts.timeout + STOP_GRACE + 30 if opts.timeout else None,
                event_handler=collector,
                cancel_callback=cancel,
            )
        outcome = RunResult(opts.playbook, opts.dry_run, status=str(result.status), rc=int(result.rc or 0),
                            clusters=collector.clusters, ansible_errors=collector.ansible_errors)
        if opts.limit and not outcome.clusters and any("no hosts" in e for e in outcome.ansible_errors):
            raise UsageError(f"--limit {opts.limit!r} matches no host of the inventory")
        cut = guard.reason or ("timeout" if outcome.status == "timeout" else None)
        if cut:
            _mark_cut(outcome, collector, cut, opts, None if opts.inventory else inventory)
        return outcome
    finally:
        if private is not None:
            # The runner's artifacts hold the command and its environment (K8S_AUTH_API_KEY included): a
            # Ctrl-C or SIGTERM during the removal must not leave half of them behind. It waits until then.
            with _signals_deferred():
                shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive during the block are held and raised again when it ends, so their
    handler's exception cannot cut it short. Held at the Python level, not with a signal mask: the kernel
    may hand a signal to any thread, and CPython then runs the handler in the main thread whatever that
    thread's mask. Handlers can only be set from the main thread; elsewhere the block runs as it is."""
    held: list[int] = []
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not None:  # None: a handler set outside Python, left alone
                previous[signum] = signal.signal(signum, lambda got, _frame: held.append(got))
    except ValueError:  # not the main thread: no handler of ours runs here anyway
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])  # to the handler it was meant for, now that the block is done


def kubeconfig_failure(opts: RunOptions) -> ClusterResult | None:
    """The single cluster's failed result when the kubeconfig it was given cannot be used, checked offline
    before ansible-runner starts (no network, no exec plugin run). The modules' kubeconfig option is
    no_log (kubernetes.core's spec: it may be an inline dict), so Ansible would mask the path in the very
    message that has to name it; here the message is Kube.connect's, with the path. Only what the modules
    would certainly read is checked: an explicit --kubeconfig of a single-cluster run, unless K8S_AUTH_*
    variables authenticate on their own (kubernetes.core then reads no kubeconfig) or a --limit may leave
    the one host out (ansible-playbook's pattern matching decides that; a limit matching nothing is exit 2)."""
    from lmeval_setup.kube import kubeconfig as K

    if opts.inventory or opts.limit or not opts.kubeconfig or _environment_authenticates():
        return None
    paths = kubeconfig_paths(opts.kubeconfig)
    shown = os.pathsep.join(paths)
    try:
        # Without --context the modules take K8S_AUTH_CONTEXT, as kubernetes.core does, else current-context.
        K.file_endpoint(paths, opts.context or os.environ.get("K8S_AUTH_CONTEXT") or None)
    except kubeconfig_load_errors() as exc:
        problem = kubeconfig_error(exc, f"kubeconfig {shown}")
        msg, reason = str(problem), problem.reason
    else:
        return None
    host = opts.context or "cluster"  # single_cluster_inventory's one host
    return ClusterResult(host, [Step(host, "Check the kubeconfig", status="failed", msg=msg, reason=reason)])


def _environment_authenticates() -> bool:
    """K8S_AUTH_* options that authenticate without a kubeconfig (kubernetes.core reads none then), read by the
    modules' own resolution."""
    from lmeval_setup.bootstrap.k8s_auth import base_source, resolve_auth

    return base_source(resolve_auth({})) == "options"



def _write_runner_settings(private: Path) -> None:
    """env/settings: ansible-runner ignores a settings= argument when this file is absent."""
    (private / "env").mkdir(parents=True, exist_ok=True)
    (private / "env" / "settings").write_text(f"pexpect_timeout: {POLL_SECONDS}\n")


def _mark_cut(outcome: RunResult, collector: EventCollector, cut: str, opts: RunOptions,
              inventory: JSON | None) -> None:
    """Every cluster the run had not finished gets a failed step saying why; the run gets one line."""
    for host in (inventory or {}).get("all", {}).get("hosts", {}):
        outcome.clusters.setdefault(host, ClusterResult(host))  # cut before its first event
    why = {"sigint": "interrupted (SIGINT)", "sigterm": "terminated (SIGTERM)",
           "timeout": f"timed out after {opts.timeout} s (--timeout)"}[cut]
    cut_off = []
    for name, cluster in sorted(outcome.clusters.items()):
        if cluster.failure is not None:
            continue
        task = collector.in_progress(name) or "the run"
        cluster.steps.append(Step(name, task, status="failed", msg=f"{why} during '{task}'", reason=cut))
        cut_off.append(name)
    where = f" ({', '.join(cut_off)} marked failed)" if cut_off else ""
    outcome.cut = cut
    outcome.cut_message = (f"{opts.playbook} {why}: ansible-playbook stopped{where}; "
                           f"{opts.playbook} is safe to re-run")
