"""What a sandbox LMEvalJob runs and costs: the job image venv (size, install time) and a real job's wall time.

Every sandbox job's `main` runs the real lm-eval from the job image venv (`make jobimage`: lm-eval 0.4.12 and
the TrustyAI image's library pins, no torch) against the vLLM and Hugging Face Hub stand-ins, under the real
TrustyAI driver (or the stand-in driver with the simulated operator); nothing is replayed. Measured:

- the cached venv's size on disk, and its largest packages;
- its install time: `tools/build-jobimage.sh` into a throw-away cache directory, timed, then removed (pip
  downloads what its wheel cache lacks: the report says how full that cache was). LMEVAL_BENCH_JOBIMAGE_INSTALL=0
  skips it;
- one control plane, the `broken-jobs` scenario on rhoai-3.5 (its seed jobs run first, as a warm-up), then
  copies of the good seed job and of the base_url seed job (404 after lm-eval's three retries) created one
  at a time and polled every 0.25 s until Complete, and for the succeeded ones lm-eval's own
  `total_evaluation_time_seconds` from the results JSON (the rest is the pod's start, the driver, the
  controller's polling and lm-eval's imports).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import median

PROFILE = "rhoai-3.5"
REPEAT = 2
POLL_S = 0.25
JOB_TIMEOUT_S = 300.0
INSTALL_TIMEOUT_S = 1800.0
CASES = (("succeeded", "eval-good"), ("failed", "eval-base-url-no-completions"))
LARGEST_PACKAGES = 5


def _tree_bytes(path: Path) -> int:
    """Bytes on disk of every regular file under `path` (symlinks not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += stat.st_blocks * 512
    return total


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.0f}"


def venv_size_rows(venv: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The venv's size and its largest top-level packages in site-packages."""
    rows = [{"figure": "job image venv on disk", "value": _mib(_tree_bytes(venv)), "unit": "MiB"}]
    sites = sorted(venv.glob("lib/python3*/site-packages"))
    notes = []
    if sites:
        packages = [(p.name, _tree_bytes(p)) for p in sites[0].iterdir() if p.is_dir() and not p.name.endswith(
            (".dist-info", ".egg-info")) and p.name != "__pycache__"]
        largest = sorted(packages, key=lambda item: -item[1])[:LARGEST_PACKAGES]
        notes.append("largest packages: " + ", ".join(f"{name} {_mib(size)} MiB" for name, size in largest))
    return rows, notes


def install_rows() -> tuple[list[dict[str, Any]], list[str]]:
    """`tools/build-jobimage.sh` into a throw-away root, timed (venv, pip install, task index, Hub content)."""
    from lmeval_setup.sandbox.jobimage import BUILD_SCRIPT

    if os.environ.get("LMEVAL_BENCH_JOBIMAGE_INSTALL", "1") == "0":
        return [], ["install time not measured (LMEVAL_BENCH_JOBIMAGE_INSTALL=0)"]
    pip_cache = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    cached = _tree_bytes(pip_cache) if pip_cache.is_dir() else 0
    root = Path(tempfile.mkdtemp(prefix="lmeval-bench-jobimage-"))
    try:
        began = time.perf_counter()
        done = subprocess.run(["bash", str(BUILD_SCRIPT)], env={**os.environ, "LMEVAL_JOBIMAGE_ROOT": str(root)},
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return [], [f"install failed (exit {done.returncode}): {tail}"]
        venv = Path(done.stdout.strip().splitlines()[-1])
        size = _tree_bytes(venv)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [{"figure": "job image venv install (make jobimage from scratch)", "value_s": seconds,
             "note": f"{_mib(size)} MiB built"}]
    return rows, [f"install: pip's wheel cache held {_mib(cached)} MiB before it (the rest came from the package "
                  "index); the venv, lm-eval's task index and the Hub stand-in's generated content, one run"]


def _time_job(kube: Any, body: dict[str, Any], jobs_path: str, timeout: float = 600.0) -> tuple[float, dict]:
    start = time.perf_counter()
    kube.create(jobs_path, body)
    path = f"{jobs_path}/{body['metadata']['name']}"
    status: dict[str, Any] = {}
    while time.perf_counter() - start < timeout:
        status = kube.get(path).get("status") or {}
        if status.get("state") == "Complete":
            return time.perf_counter() - start, status
        time.sleep(POLL_S)
    last = ", ".join(f"{k} {status.get(k)!r}" for k in ("state", "reason", "message") if status.get(k))
    raise TimeoutError(f"{body['metadata']['name']} not Complete after {timeout:.0f} s (last: {last or 'no status'})")


def _lm_eval_seconds(status: dict[str, Any]) -> float | None:
    """lm-eval's own evaluation time, from the results JSON the driver reported."""
    try:
        return float(json.loads(status.get("results") or "{}")["total_evaluation_time_seconds"])
    except (ValueError, KeyError, TypeError):
        return None


def job_rows(operator: str) -> tuple[list[dict[str, Any]], list[str]]:
    from lmeval_setup.kube.client import resource_path
    from lmeval_setup.platform import releases as R
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.controlplane import ControlPlane
    from lmeval_setup.sandbox.harness import running_sandbox

    jobs_path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", J.DEMO_NAMESPACE)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(Path(tmp)) as plane, \
            running_sandbox(plane, PROFILE, "broken-jobs", timeout=180) as sb:
        warm = time.perf_counter()
        while time.perf_counter() - warm < 900:
            items = sb.kube.get(jobs_path).get("items", [])
            if items and all((j.get("status") or {}).get("state") == "Complete" for j in items):
                break
            time.sleep(1.0)
        notes.append(f"warm-up: the {len(J.SEED_JOBS)} broken-jobs seed jobs, concurrently, took "
                     f"{time.perf_counter() - warm:.0f} s")
        for kind, seed_name in CASES:
            samples, reasons, evaluation = [], set(), []
            for i in range(REPEAT):
                body = J.seed_job(seed_name).for_namespace(J.DEMO_NAMESPACE)
                body["metadata"]["name"] = f"bench-{kind}-{i}"
                try:
                    seconds, status = _time_job(sb.kube, body, jobs_path, timeout=JOB_TIMEOUT_S)
                except TimeoutError as exc:  # reported, not fatal: the other samples still count
                    notes.append(f"{exc}; the real controller has left a job Scheduled after a status conflict "
                                 "and a duplicate pod create before")
                    continue
                samples.append(seconds)
                reasons.add(str(status.get("reason")))
                if (inside := _lm_eval_seconds(status)) is not None:
                    evaluation.append(inside)
            if samples:
                rows.append({"figure": f"{kind} job ({seed_name}), create to Complete", "value_s": median(samples),
                             "note": f"reason {'/'.join(sorted(reasons))}"})
            if evaluation:
                rows.append({"figure": f"{kind} job: lm-eval's own total_evaluation_time_seconds",
                             "value_s": median(evaluation)})
    notes.append(f"operator: {operator}; lm-eval 0.4.12 from the job image venv against the vLLM and Hub "
                 f"stand-ins, `--limit` as the seed job sets it; median of {REPEAT} jobs each, one at a time, polled "
                 "every 0.25 s")
    return rows, notes


def run() -> dict[str, Any]:
    from lmeval_setup.sandbox import jobimage, realoperator
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, missing_binaries
    from lmeval_setup.sandbox.podruntime import PodRuntime
    from lmeval_setup.sandbox.profiles import get_profile

    name = "sandbox job: the job image venv, and create to Complete"
    image = jobimage.find()
    if image is None:
        return {"name": name, "error": jobimage.missing_reason()}
    if missing_binaries():
        return {"name": name, "error": f"control plane not built: {BUILD_HINT}"}
    if not PodRuntime.available():
        return {"name": name, "error": "Linux namespaces are not available: job containers cannot run here"}
    operator = "simulated" if realoperator.missing_for_real(get_profile(PROFILE)) else "real"
    rows, notes = venv_size_rows(image.venv)
    more_rows, more_notes = install_rows()
    rows += more_rows
    notes += more_notes
    switches = {realoperator.ENV_SWITCH: operator, realoperator.LM_EVAL_SWITCH: "real"}
    previous = {k: os.environ.get(k) for k in switches}
    os.environ.update(switches)
    try:
        more_rows, more_notes = job_rows(operator)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"name": name, "rows": rows + more_rows, "notes": notes + more_notes}
