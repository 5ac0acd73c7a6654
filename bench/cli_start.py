"""CLI start-up: `lmeval-setup --help` and `lmeval-setup lint` on one file, against `python -c pass`.

Target: --help under 0.25 s. The CLI imports subcommands lazily, so --help loads neither the
kubernetes client nor ansible.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import median, ratio, time_command

ONE_JOB = """apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata:
  name: bench
spec:
  model: local-completions
  taskList:
    taskNames: [arc_easy]
  modelArgs:
    - {name: model, value: granite}
    - {name: base_url, value: "http://granite-predictor:8080/v1/completions"}
    - {name: tokenizer, value: ibm-granite/granite-3.1-8b-instruct}
    - {name: num_concurrent, value: "4"}
    - {name: max_retries, value: "3"}
    - {name: timeout, value: "300"}
  allowOnline: true
"""


def run() -> dict[str, Any]:
    from bench.latency_bench import compile_bytecode

    compile_bytecode(Path(__file__).resolve().parents[1])  # as installed: no module compiled from source per run
    cli = [sys.executable, "-m", "lmeval_setup.cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "job.yaml"
        manifest.write_text(ONE_JOB)
        baseline = median(time_command([sys.executable, "-c", "pass"]))
        help_time = median(time_command([*cli, "--help"]))
        lint_time = median(time_command([*cli, "lint", str(manifest)]))
    return {
        "name": "CLI start",
        "rows": [
            {"figure": "python -c pass (baseline)", "value_s": baseline, "ratio": 1.0},
            {"figure": "lmeval-setup --help", "value_s": help_time, "ratio": ratio(help_time, baseline),
             "target": "< 0.25 s", "met": help_time < 0.25},
            {"figure": "lmeval-setup lint (1 file)", "value_s": lint_time, "ratio": ratio(lint_time, baseline)},
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
