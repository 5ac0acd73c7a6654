"""Lint benchmark: 1,000 LMEvalJob manifests, wall time of `lmeval-setup lint DIR` (target < 2 s).

Measures the real command (a fresh interpreter, imports included), median of repeated runs.
`run()` returns the figures in bench/run.py's format; `python bench/lint_bench.py` prints them. The
baseline is a fresh interpreter that only parses the same files with PyYAML's C loader: what any
YAML-reading tool pays before checking anything.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MANIFESTS = 1_000
RUNS = 5
TARGET_SECONDS = 2.0

_TEMPLATE = """\
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata:
  name: eval-{i}
  namespace: team-{ns}
  labels:
    app.kubernetes.io/part-of: evals
spec:
  model: {model}
  allowOnline: {online}
  batchSize: "{batch}"
  limit: "{limit}"
  logSamples: true
  taskList:
    taskNames:
      - {task}
      - gsm8k
  modelArgs:
    - name: model
      value: granite-{i}
    - name: base_url
      value: http://granite-{i}-predictor.team-{ns}.svc.cluster.local:8080{path}
    - name: tokenizer
      value: {tokenizer}
    - name: num_concurrent
      value: "4"
    - name: max_retries
      value: "3"
  pod:
    container:
      env:
        - name: OPENAI_API_KEY
          valueFrom:
            secretKeyRef:
              name: model-token
              key: token
      resources:
        limits:
          cpu: "1"
          memory: 8Gi
"""


def manifest(i: int) -> str:
    """Most manifests are right; every 7th has a seed mistake so detectors do real work."""
    bad = i % 7 == 0
    return _TEMPLATE.format(
        i=i, ns=i % 20, model="local-completions", online="false" if bad else "true",
        batch="auto" if i % 3 else "8", limit="10", task="arc_easy" if i % 2 else "hellaswag",
        path="/v1" if bad else "/v1/completions", tokenizer="granite" if bad else "ibm-granite/granite-3.1-8b-instruct",
    )


def generate(directory: Path, count: int = MANIFESTS) -> None:
    for i in range(count):
        (directory / f"job-{i:04d}.yaml").write_text(manifest(i))


def _lint_once(directory: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lmeval_setup.cli.main", "lint", str(directory), "-o", "json"],
        capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"lint failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads(done.stdout)
    return elapsed, len(report["findings"]), done.returncode


_PARSE_ONLY = (
    "import sys, pathlib, yaml\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n"
    "    list(yaml.load_all(p.read_text(), Loader=yaml.CSafeLoader))\n"
)


def _parse_once(directory: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PARSE_ONLY, str(directory)], check=True)
    return time.perf_counter() - start


def measure(count: int = MANIFESTS, runs: int = RUNS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lmeval-lint-bench-") as tmp:
        directory = Path(tmp)
        generate(directory, count)
        _lint_once(directory)  # warm the page cache and .pyc files
        samples = [_lint_once(directory) for _ in range(runs)]
        baseline = statistics.median(_parse_once(directory) for _ in range(runs))
    times = [s[0] for s in samples]
    median = statistics.median(times)
    return {
        "manifests": count, "runs": runs, "median_seconds": median, "min_seconds": min(times),
        "max_seconds": max(times), "baseline_seconds": baseline, "findings": samples[0][1],
        "exit_code": samples[0][2],
    }


def run(count: int = MANIFESTS, runs: int = RUNS) -> dict[str, Any]:
    m = measure(count, runs)
    median = m["median_seconds"]
    return {
        "name": "lint",
        "rows": [
            {"figure": f"lmeval-setup lint on {count} manifests (wall, fresh process)", "value_s": median,
             "ratio": median / m["baseline_seconds"] if m["baseline_seconds"] else None,
             "target": f"< {TARGET_SECONDS:.0f} s", "met": median < TARGET_SECONDS,
             "note": f"min {m['min_seconds']:.3f} s, max {m['max_seconds']:.3f} s, {m['findings']} findings"},
            {"figure": "baseline: parse the same files with PyYAML CSafeLoader (fresh process)",
             "value_s": m["baseline_seconds"]},
            {"figure": "per manifest", "value": round(median / count * 1000, 3), "unit": "ms"},
        ],
        "notes": [f"median of {runs} runs after one warm-up; every 7th manifest carries seed mistakes"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
