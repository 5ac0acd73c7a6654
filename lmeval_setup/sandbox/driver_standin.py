"""The TrustyAI driver's part of a job pod's `main` container, for the simulated operator.

With the simulated operator, the `main` container runs the real lm-eval (the job image venv, `make
jobimage`; pods as processes): LMEVAL_SANDBOX_LM_EVAL=real|none, default real. With `none`, or without the
job image, its python has no lm-eval (realoperator.job_python_dir) and the job fails as in an image without
it; without Linux namespaces the container cannot be created (the kubelet says so). This module stands where
the Go driver
(`/opt/app-root/src/bin/driver --output-path ... -- python -m lm_eval ...`) would. Like the
driver (controllers/lmes/driver/driver.go) it runs the command after `--`, streams lm-eval's stderr into
the container log with tqdm's carriage returns turned into line breaks, prints lm-eval's stdout after
the process exits, and logs its final status as the zap line the simulated operator reads
(`update status: job completed {"state": {...}}`, with lm-eval's results JSON on success and the
progress bars it saw). Unlike the driver it exits by itself (no `--shutdown`) and serves no status
endpoint (the simulated operator reads the log). With the real operator, the real driver runs instead.

    python -m lmeval_setup.sandbox.driver_standin DRIVER_ARGV...
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lmeval_setup.sandbox.driverlog import go_json, progress_bars
from lmeval_setup.sandbox.podservices import die_with


def _zap(message: str) -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z\tINFO\tdriver\t{message}"


def _split(argv: list[str]) -> tuple[Path, list[str]]:
    """The driver's --output-path and the command after `--`."""
    output = Path(argv[argv.index("--output-path") + 1]) if "--output-path" in argv[:-1] else Path(".")
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    return output, command


def _results(output: Path) -> str | None:
    found = sorted(output.rglob("results_*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0].read_text() if found else None


def run(argv: list[str]) -> int:
    output, command = _split(argv)
    if not command:
        print(_zap('update status: job completed\t{"state": {"state":"Complete","reason":"Failed",'
                   '"message":"no command to run"}}'), flush=True)
        return 0
    seen: list[str] = []
    with tempfile.TemporaryFile() as stdout:
        child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, preexec_fn=die_with(os.getpid()))
        assert child.stderr is not None
        pending = b""
        while chunk := child.stderr.read1(65536):  # type: ignore[attr-defined]
            pending += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                seen.append(text)
                print(text, flush=True)
        if pending:
            seen.append(pending.decode(errors="replace"))
            print(seen[-1], flush=True)
        code = child.wait()
        stdout.seek(0)
        sys.stdout.write(stdout.read().decode(errors="replace"))
    status: dict[str, Any] = {"state": "Complete", "reason": "Succeeded" if code == 0 else "Failed",
                              "message": "job completed" if code == 0 else f"exit status {code}"}
    results = _results(output) if code == 0 else None
    if results is not None:
        status["results"] = json.dumps(json.loads(results))  # compact, as the driver stores it
    bars = progress_bars(seen)
    if bars:
        status["progressBars"] = bars
    print(_zap("update status: job completed\t{\"state\": " + go_json(status) + "}"), flush=True)
    return 0


REAL, NONE = "real", "none"


def lm_eval_mode() -> str:
    """'real' or 'none': whether a job's `main` finds lm-eval (the job image venv) in its python.

    Real unless LMEVAL_SANDBOX_LM_EVAL says `none` or the job image venv is not built (with a warning when
    `real` was asked for)."""
    import logging
    import os

    from lmeval_setup.sandbox.realoperator import LM_EVAL_SWITCH, job_venv_python

    asked = os.environ.get(LM_EVAL_SWITCH, "").strip().lower()
    if job_venv_python() is None:
        if asked == REAL:
            logging.getLogger("lmeval_setup.sandbox.driver_standin").warning(
                "%s=real but the job image venv is not built (make jobimage): jobs find no lm_eval", LM_EVAL_SWITCH)
        return NONE
    return REAL


def process_resolvers(workdir: Path) -> list[Any]:
    """Kubelet process resolvers for `main` under the simulated operator: this stand-in driver running
    the real lm-eval, inside podservices (the pod reaches its InferenceServices and the Hub); in `none` mode
    the same driver finds no lm-eval."""
    from lmeval_setup.sandbox.podservices import with_services
    from lmeval_setup.sandbox.realoperator import _job_python_dir, driver_main_process

    job_python_dir = _job_python_dir(workdir)
    kubeconfig = workdir / "kubeconfig"

    def resolve(pod: dict[str, Any], container: dict[str, Any]) -> Any:
        spec = driver_main_process(pod, container, job_python_dir)
        if spec is None:
            return None
        standin = (sys.executable, "-m", "lmeval_setup.sandbox.driver_standin", *spec.argv[1:])
        return with_services(dataclasses.replace(spec, argv=standin), pod, kubeconfig)

    return [resolve]


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
