"""Run the real `python -m lm_eval` of the job image the way a TrustyAI job pod's `main` container does.

The command line and environment are the operator's (`trustyai_operator.generate_args` / `build_env`);
what differs from a pod is only where things live on this machine:
- `--output_path` and `--include_path` (pod paths under /opt/app-root/src) become directories of a
  per-run work directory, and so does `HF_HOME` (the pod's Hugging Face cache);
- `HF_ENDPOINT` is `http://huggingface.co:<port>`, with huggingface.co resolved to the Hub stand-in for
  this process only, so a permitted download reaches generated content, an offline run fails exactly where
  it does on a cluster, and Hub URLs in the log name huggingface.co;
- cluster-local names (an InferenceService's predictor host) resolve to the model stand-in the same way.
The driver streams lm-eval's stderr into the `main` log and prints stdout (the results table) after the
process exits; `RunResult.log` is that concatenation.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

from lmeval_setup.rules.models import HF_HOME
from lmeval_setup.sandbox.driverlog import INCLUDE_PATH, OUTPUT_PATH
from lmeval_setup.sandbox.jobimage import JobImage

DEFAULT_TIMEOUT_S = 240.0
HUB_HOST = "huggingface.co"
HOSTS_ENV = "LMEVAL_SANDBOX_HOSTS"  # podhosts.ENV


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    stderr: str
    _: KW_ONLY
    stdout: str
    output_dir: Path
    timed_out: bool = False

    @property
    def log(self) -> str:
        """The `main` container log: lm-eval's stderr, then its stdout as the driver prints it."""
        return self.stderr + self.stdout

    def results_file(self) -> Path | None:
        """lm-eval's own results JSON (`<output>/<model name>/results_<time>.json`), newest first."""
        found = sorted(self.output_dir.rglob("results_*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return found[0] if found else None

    def results(self) -> dict[str, Any] | None:
        path = self.results_file()
        return json.loads(path.read_text()) if path else None


def localise(argv: list[str], workdir: Path) -> list[str]:
    """The pod's paths in lm-eval's arguments, moved under `workdir` (which gets them as directories)."""
    mapping = {OUTPUT_PATH: workdir / "output", INCLUDE_PATH: workdir / "my_tasks"}
    for path in mapping.values():
        path.mkdir(parents=True, exist_ok=True)
    return [str(mapping.get(a, a)) if a in mapping else a for a in argv]


def pod_environment(env: list[dict[str, Any]] | dict[str, str], workdir: Path, hub_port: int | None = None,
                    hosts: dict[str, str] | None = None) -> dict[str, str]:
    """The container's env (name/value list or dict) plus what the image and the cluster provide:
    HOME, HF_HOME, PATH; the Hub stand-in as huggingface.co (HF_ENDPOINT, plain HTTP on its port) and
    cluster-local names (`hosts`) resolved for the process only (podhosts.py)."""
    values = env if isinstance(env, dict) else {e["name"]: str(e.get("value", "")) for e in env if "name" in e}
    out = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8",
           "HF_HOME": str(workdir / "hf_home"), "PYTHONUNBUFFERED": "1"}
    out.update({k: v for k, v in values.items() if k != "HF_HOME" or v != HF_HOME})
    table = dict(hosts or {})
    if hub_port:
        out["HF_ENDPOINT"] = f"http://{HUB_HOST}:{hub_port}"
        # datasets asks the dataset viewer at datasets-server.<endpoint host>; it gets the stand-in's 404.
        table.update({HUB_HOST: "127.0.0.1", f"datasets-server.{HUB_HOST}": "127.0.0.1"})
    out[HOSTS_ENV] = json.dumps(table, sort_keys=True)
    return out


def run_lm_eval(image: JobImage, lm_eval_argv: list[str], env: dict[str, str], workdir: Path, *,
                timeout: float = DEFAULT_TIMEOUT_S) -> RunResult:
    """`python -m lm_eval ARGV` from the job image in `workdir` (argv without `python -m lm_eval`)."""
    argv = [str(image.python), "-m", "lm_eval", *localise(lm_eval_argv, workdir)]
    try:
        proc = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        result = RunResult(-9, _text(exc.stderr), stdout=_text(exc.stdout), output_dir=workdir / "output",
                           timed_out=True)
    else:
        result = RunResult(proc.returncode, proc.stderr, stdout=proc.stdout, output_dir=workdir / "output")
    (workdir / "main.log").write_text(result.log)  # what `kubectl logs` would show, kept for debugging
    return result


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value

