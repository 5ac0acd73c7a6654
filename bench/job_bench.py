"""How long a sandbox LMEvalJob takes from create to `state: Complete`, succeeded and failed.

One control plane, the `broken-jobs` scenario on rhoai-3.5 (its seed jobs run first, as a warm-up), then
copies of the good seed job and of the base_url seed job (404 after lm-eval's three retries) are created
one at a time and polled every 0.25 s until Complete. The real manager and driver run where their line is
built (tools/build-operator.sh), the real lm-eval where the job image is (`make jobimage`); otherwise the
simulator and outcomes.py's replay. The report says which.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import median

PROFILE = "rhoai-3.5"
REPEAT = 2
POLL_S = 0.25
JOB_TIMEOUT_S = 300.0
CASES = (("succeeded", "eval-good"), ("failed", "eval-base-url-no-completions"))


def _modes() -> tuple[str, str]:
    """(operator, lm-eval): the real ones where built, else the simulator and outcomes.py's replay."""
    from lmeval_setup.sandbox import jobimage, realoperator
    from lmeval_setup.sandbox.podruntime import PodRuntime
    from lmeval_setup.sandbox.profiles import get_profile

    operator = "simulated" if realoperator.missing_for_real(get_profile(PROFILE)) else "real"
    lm_eval = "real" if jobimage.find() is not None and PodRuntime.available() else "replayed"
    return operator, lm_eval


def _time_job(kube: Any, body: dict[str, Any], jobs_path: str, timeout: float = 600.0) -> tuple[float, str]:
    start = time.perf_counter()
    kube.create(jobs_path, body)
    path = f"{jobs_path}/{body['metadata']['name']}"
    while time.perf_counter() - start < timeout:
        status = kube.get(path).get("status") or {}
        if status.get("state") == "Complete":
            return time.perf_counter() - start, str(status.get("reason"))
        time.sleep(POLL_S)
    raise TimeoutError(f"{body['metadata']['name']} not Complete after {timeout:.0f} s")


def run() -> dict[str, Any]:
    from lmeval_setup.kube.client import resource_path
    from lmeval_setup.platform import releases as R
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox import realoperator
    from lmeval_setup.sandbox.controlplane import BUILD_HINT, ControlPlane, missing_binaries
    from lmeval_setup.sandbox.harness import running_sandbox

    name = "sandbox job: create to Complete"
    if missing_binaries():
        return {"name": name, "error": f"control plane not built: {BUILD_HINT}"}
    operator, lm_eval = _modes()
    switches = {realoperator.ENV_SWITCH: operator, realoperator.LM_EVAL_SWITCH: "real" if lm_eval == "real" else
                "standin"}
    previous = {k: os.environ.get(k) for k in switches}
    os.environ.update(switches)
    jobs_path = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", J.DEMO_NAMESPACE)
    rows, notes = [], []
    try:
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
                samples, reasons = [], set()
                for i in range(REPEAT):
                    body = J.seed_job(seed_name).for_namespace(J.DEMO_NAMESPACE)
                    body["metadata"]["name"] = f"bench-{kind}-{i}"
                    try:
                        seconds, reason = _time_job(sb.kube, body, jobs_path, timeout=JOB_TIMEOUT_S)
                    except TimeoutError as exc:  # reported, not fatal: the other samples still count
                        notes.append(f"{exc} (the real controller once left a job Scheduled after a status "
                                     "conflict and a duplicate pod create)")
                        continue
                    samples.append(seconds)
                    reasons.add(reason)
                if samples:
                    rows.append({"figure": f"{kind} job ({seed_name}), create to Complete",
                                 "value_s": median(samples), "note": f"reason {'/'.join(sorted(reasons))}"})
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    what = "0.4.12 from the job image venv against the vLLM and Hub stand-ins" if lm_eval == "real" else (
        "outcomes.py replay")
    notes.append(f"operator: {operator}; lm-eval: {lm_eval} ({what}); median of {REPEAT} jobs each, one at a "
                 "time, polled every 0.25 s")
    return {"name": name, "rows": rows, "notes": notes}
