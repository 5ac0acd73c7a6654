"""STAND-IN for `python -m lm_eval` in sandbox job pods, until the job image's real lm-eval is built.

The real TrustyAI driver (run as a process by the sandbox kubelet) launches `python -m lm_eval ARGS`;
in the sandbox, without the job-image venv (sandbox/jobimage.py, issue 12), that `python` runs this
module instead. It is not lm-eval: it replays what outcomes.simulate() decides for the same command
line and environment (lm-eval's own log lines on stderr, with their timing, up to where the simulated
driver's lines start, which the real driver prints itself), writes a results file where lm-eval
would on success, and exits with lm-eval's exit code. The driver then reports status as it does
for real lm-eval.

    python -m lmeval_setup.sandbox.lm_eval_standin --output_path DIR --model M --tasks T ...
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from lmeval_setup.rules.models import HF_HOME
from lmeval_setup.sandbox.outcomes import inputs_from_container, simulate
from lmeval_setup.sandbox.scripts import stamp_line

# Directories the sandbox makes for a pod's volume mounts (podruntime.volume_directories).
KNOWN_MOUNTS = ("/opt/app-root/src/output", HF_HOME, "/opt/app-root/src/my_tasks")


def container_view(argv: list[str]) -> dict:
    """The `main` container as outcomes.inputs_from_container reads it, rebuilt from inside the pod."""
    mounts = [{"name": "offline" if path == HF_HOME else "volume", "mountPath": path}
              for path in KNOWN_MOUNTS if Path(path).is_dir()]
    return {"args": ["python", "-m", "lm_eval", *argv],
            "env": [{"name": k, "value": v} for k, v in os.environ.items()], "volumeMounts": mounts}


def output_path(argv: list[str]) -> Path | None:
    return Path(argv[argv.index("--output_path") + 1]) if "--output_path" in argv[:-1] else None


def main(argv: list[str]) -> int:
    inputs = inputs_from_container(container_view(argv))
    if inputs is None:
        print("lm_eval stand-in: no lm_eval arguments", file=sys.stderr)
        return 2
    outcome = simulate(inputs)
    start, began = time.monotonic(), dt.datetime.now(dt.UTC)
    for line in outcome.script.lines:
        if line.stamp == "zap":  # from here on the lines are the driver's: the real driver writes those
            break
        time.sleep(max(0.0, line.at - (time.monotonic() - start)))
        print(stamp_line(line, began + dt.timedelta(seconds=line.at)), file=sys.stderr, flush=True)
    target = output_path(argv)
    if outcome.results is not None and target is not None:
        run_dir = target / inputs.model_args.get("model", "model").replace("/", "__")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"results_{began:%Y-%m-%dT%H-%M-%S.%f}.json").write_text(outcome.results)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
