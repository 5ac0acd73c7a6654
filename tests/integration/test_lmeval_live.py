"""The live failure matrix: the real lm-eval (the job image venv) against the vLLM and Hub stand-ins.

Each case is an LMEvalJob spec. The REAL TrustyAI manager of the case's release line (rhoai-2.22 unless the
case says otherwise; sandbox/operator_build.py) runs out of cluster against a throw-away control plane, is given
the job, and builds its pod: the `main` container's args (`python -m lm_eval ...`) and env (offline and no-code
variables unless permitted, the job's own env) are what the real `python -m lm_eval` runs with, plus what the
real driver adds (UNITXT_ALLOW_UNVERIFIED_CODE). The doctor's log rules (rules/logs.py) must attribute the live
log to the expected rule, with an evidence line that is in that log. The good cases must end with lm-eval's own
results JSON. Lines differ where their controllers differ: with code execution permitted, rhoai-2.22 still never
passes --confirm_run_unsafe_code nor HF_ALLOW_CODE_EVAL (the unsafe task fails: LME010) and rhoai-2.25 does (it
runs); a model type outside the CRD's enum is a 422 on the RHOAI lines, so lm-eval's own error for it is
checked under upstream v1.38.0, whose CRD has no enum.

Without a built manager for a line (no Go toolchain, no ../shared and no Go proxy) the simulated operator's
`generate_args`/`build_env` stand in for its pods, with a warning naming why (the documented fallback).

Cases run concurrently (two at a time: the machine has two cores) with `--limit 2`; only the selected
cases run (`-k` works). Needs `make jobimage`; skips without it (fails under LMEVAL_REQUIRE_CONTROLPLANE).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import tempfile
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import realmanager_support as RM

from lmeval_setup.platform import releases as R
from lmeval_setup.rules import logs
from lmeval_setup.sandbox import jobimage
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.hubserver import HubServer
from lmeval_setup.sandbox.lmeval_run import RunResult, pod_environment, run_lm_eval
from lmeval_setup.sandbox.modelserver import ModelServer, ModelServerConfig
from lmeval_setup.sandbox.pki import TinyCA
from lmeval_setup.sandbox.trustyai_operator import build_env, generate_args, options_from_configmap

# The whole matrix runs in the first test's fixture: ~150 s of CPU, minutes of wall time on a loaded machine.
pytestmark = pytest.mark.timeout(1800)

MODEL = "granite"
TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"
BASE_TOKENIZER = "ibm-granite/granite-3.1-8b-base"  # no chat template
GATED_TOKENIZER = "meta-llama/Llama-3.1-8B-Instruct"
API_KEY = "sk-sandbox-endpoint-token"
HUB_TOKEN = "hf_sandboxaccepted"
PREDICTOR_HOST = "granite-predictor.private-ai-demo.svc.cluster.local"

UNSAFE_TASK = """\
task: unsafe_gsm
dataset_path: openai/gsm8k
dataset_name: main
output_type: generate_until
test_split: test
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_target: "{{answer}}"
generation_kwargs:
  until: ["Question:"]
metric_list:
  - metric: exact_match
unsafe_code: true
"""
SCRIPT_TASK = """\
task: script_task
dataset_path: sandbox/script_dataset
output_type: generate_until
test_split: test
doc_to_text: "{{question}}"
doc_to_target: "{{answer}}"
metric_list:
  - metric: exact_match
"""


@dataclass(frozen=True)
class Case:
    name: str
    rule: str | None  # the rule the doctor must give; None: the job succeeds
    evidence: str  # a regex the evidence line (the hit's log line) must match; for successes, the log
    model: str = "local-completions"
    server: str = "good"  # which model server: see SERVERS (or "closed" for a port nothing listens on)
    path: str = "/v1/completions"  # appended to the server URL for base_url; None-like "" omits base_url
    args: dict[str, str] = field(default_factory=dict)
    tasks: tuple[str, ...] = ("arc_easy",)
    online: bool = True
    code: bool = False
    chat: bool = False
    env: dict[str, str] = field(default_factory=dict)
    quality: str | None = None  # a non-fatal rule the doctor must also report
    hub: str = "up"  # "down": HF_ENDPOINT names a port nothing listens on (online, but no egress)
    line: str = "rhoai-2.22"  # the release line whose real manager builds the job's pod


SERVERS: dict[str, ModelServerConfig] = {
    "good": ModelServerConfig(served_model_name=MODEL),
    "auth": ModelServerConfig(served_model_name=MODEL, api_key=API_KEY),
    "429": ModelServerConfig(served_model_name=MODEL, fault="429"),
    "500": ModelServerConfig(served_model_name=MODEL, fault="500"),
    "reset": ModelServerConfig(served_model_name=MODEL, fault="reset"),
    "slow": ModelServerConfig(served_model_name=MODEL, fault="slow", slow_seconds=4.0),
    "nologprobs": ModelServerConfig(served_model_name=MODEL, fault="no-logprobs"),
    "short": ModelServerConfig(served_model_name=MODEL, max_model_len=8),
    "tls": ModelServerConfig(served_model_name=MODEL),
}

CASES = [
    # success: the seed's proven configuration, and the variants that must stay successes
    Case("good", None, r"\|arc_easy\|", args={"tokenizer": TOKENIZER}),
    Case("good-generate", None, r"\|gsm8k\|", args={"tokenizer": TOKENIZER}, tasks=("gsm8k",)),
    Case("auth-ok", None, r"\|arc_easy\|", server="auth", args={"tokenizer": TOKENIZER},
         env={"OPENAI_API_KEY": API_KEY}),
    Case("tls-verify-false", None, r"\|arc_easy\|", server="tls",
         args={"tokenizer": TOKENIZER, "verify_certificate": "False"}, quality="LME028"),
    # the seed's five mistakes
    Case("offline-dataset", "LME001", r"Couldn't reach 'allenai/ai2_arc' on the Hub \(OfflineModeIsEnabled\)",
         args={"tokenizer": "@local-tokenizer"}, online=False),
    Case("offline-tokenizer-repo", "LME001", r"We couldn't connect to .* to load", args={"tokenizer": TOKENIZER},
         online=False),
    Case("offline-generate", "LME001", r"Couldn't reach 'openai/gsm8k' on the Hub", tasks=("gsm8k",),
         args={"tokenizer": "@local-tokenizer"}, online=False),
    Case("base-url-v1", "LME002", r"404 Client Error: Not Found for url: \S+/v1$", path="/v1",
         args={"tokenizer": TOKENIZER}),
    Case("base-url-missing", "LME002", r"MissingSchema: Invalid URL 'None'", path="", args={"tokenizer": TOKENIZER}),
    Case("completions-to-chat-endpoint", "LME002", r"400 Client Error: Bad Request for url: \S+/v1/chat/completions",
         path="/v1/chat/completions", args={"tokenizer": TOKENIZER}),
    Case("chat-loglikelihood", "LME003", r"Loglikelihood is not supported for chat completions",
         model="local-chat-completions", path="/v1/chat/completions", chat=True),
    Case("served-name-tokenizer-online", "LME004", r"granite is not a local folder and is not a valid model "
         r"identifier"),
    Case("served-name-tokenizer-offline", "LME004", r"We couldn't connect to .* granite is not the path",
         online=False),
    Case("openai-completions", "LME005", r"Could not automatically map granite to a tokeniser",
         model="openai-completions"),
    # endpoint and transport
    Case("tls-untrusted", "LME006", r"CERTIFICATE_VERIFY_FAILED", server="tls", args={"tokenizer": TOKENIZER}),
    Case("auth-missing", "LME007", r"401 Client Error: Unauthorized", server="auth", args={"tokenizer": TOKENIZER}),
    Case("connection-refused", "LME008", r"Connection refused", server="closed", args={"tokenizer": TOKENIZER}),
    Case("host-typo", "LME008", r"Failed to resolve 'granite-predictr\.private-ai-demo\.svc\.cluster\.local'",
         path="@typo", args={"tokenizer": TOKENIZER}),
    Case("connection-reset", "LME008", r"Connection aborted", server="reset", args={"tokenizer": TOKENIZER}),
    Case("timeout", "LME008", r"TimeoutError", server="slow",
         args={"tokenizer": TOKENIZER, "num_concurrent": "2", "timeout": "1", "max_retries": "2"}),
    Case("wrong-model-name", "LME009", r"404 Client Error", args={"tokenizer": TOKENIZER, "model": TOKENIZER}),
    Case("rate-limited", "LME013", r"429 Client Error: Too Many Requests", server="429",
         args={"tokenizer": TOKENIZER, "max_retries": "2"}),
    Case("server-error", "LME013", r"500 Server Error: Internal Server Error", server="500",
         args={"tokenizer": TOKENIZER, "max_retries": "2"}),
    Case("context-length", "LME012", r"400 Client Error: Bad Request", server="short", args={"tokenizer": TOKENIZER}),
    Case("no-prompt-logprobs", "LME027", r"'NoneType' object is not subscriptable", server="nologprobs",
         args={"tokenizer": TOKENIZER}),
    # tokenizer, tasks, code, packages, chat templates
    Case("gated-tokenizer", "LME011", r"gated repo", args={"tokenizer": GATED_TOKENIZER}),
    Case("gated-tokenizer-with-token", None, r"\|arc_easy\|", args={"tokenizer": GATED_TOKENIZER},
         env={"HF_TOKEN": HUB_TOKEN}),
    Case("tokenizer-path-missing", "LME004", r"Incorrect path_or_model_id: '/opt/app-root/src/hf_home/flan'",
         args={"tokenizer": "/opt/app-root/src/hf_home/flan"}),
    Case("no-tokenizer-loglikelihood", "LME004", r"Tokenizer is required for loglikelihood tasks",
         args={"tokenizer_backend": "None"}),
    Case("task-not-found", "LME014", r"Tasks not found: arc_eazy", tasks=("arc_eazy",), args={"tokenizer": TOKENIZER}),
    Case("unsafe-code", "LME010", r"unsafe_gsm which is marked as unsafe", tasks=("unsafe_gsm",),
         args={"tokenizer": TOKENIZER}),
    # Code execution permitted (job and ConfigMap): 2.22's controller still passes neither the flag nor the
    # variable, so the task fails as above; 2.25's passes both and it runs.
    Case("unsafe-code-permitted-2-22", "LME010", r"unsafe_gsm which is marked as unsafe", tasks=("unsafe_gsm",),
         args={"tokenizer": TOKENIZER}, code=True),
    Case("unsafe-code-permitted-2-25", None, r"\|unsafe_gsm\|", tasks=("unsafe_gsm",),
         args={"tokenizer": TOKENIZER}, code=True, line="rhoai-2.25"),
    Case("missing-package", "LME023", r"No module named '\w+'", tasks=("ifeval",), args={"tokenizer": TOKENIZER}),
    Case("chat-template-missing", "LME026", r"tokenizer\.chat_template is not set", tasks=("gsm8k",), chat=True,
         args={"tokenizer": BASE_TOKENIZER}),
    Case("chat-model-without-template-flag", "LME026", r"apply_chat_template", tasks=("gsm8k",),
         model="local-chat-completions", path="/v1/chat/completions"),
    Case("async-refused", "LME008", r"Cannot connect to host .* \[Connect call failed", server="closed",
         args={"tokenizer": TOKENIZER, "num_concurrent": "2", "max_retries": "2"}),
    Case("async-tls-untrusted", "LME006", r"ClientConnectorCertificateError|CERTIFICATE_VERIFY_FAILED", server="tls",
         args={"tokenizer": TOKENIZER, "num_concurrent": "2", "max_retries": "2"}),
    Case("base-url-no-scheme", "LME002", r"No connection adapters were found", path="@no-scheme",
         args={"tokenizer": TOKENIZER}),
    Case("chat-to-completions-endpoint", "LME002", r"400 Client Error: Bad Request for url: \S+/v1/completions$",
         tasks=("gsm8k",), model="local-chat-completions", chat=True),
    Case("context-assert", "LME012", r"Context length must be greater than 0",
         args={"tokenizer": TOKENIZER, "max_length": "2"}),
    Case("hub-unreachable", "LME001", r"We couldn't connect to 'http://huggingface\.co:\d+' to load",
         args={"tokenizer": TOKENIZER}, hub="down"),
    Case("openai-completions-no-key", "LME005", r"API key not found", model="openai-completions", tasks=("gsm8k",),
         args={"tokenizer": TOKENIZER, "tokenizer_backend": "huggingface"}),
    Case("script-dataset", "LME010", r"requires you to execute the dataset script", tasks=("script_task",),
         args={"tokenizer": TOKENIZER}),
    Case("tokenizer-dir-without-files", "LME004", r"Can't load tokenizer for", args={"tokenizer": "@llama-dir"}),
    Case("tokenizer-dir-only-granite-config", "LME004", r"KeyError: <class '\S+GraniteConfig'>",
         args={"tokenizer": "@empty-dir"}),
    # The RHOAI lines' CRDs refuse this model type at admission (enum); upstream v1.38.0's admits it.
    Case("model-type-typo", "LME015", r"Attempted to load model 'local-completion'", model="local-completion",
         args={"tokenizer": TOKENIZER}, line="v1.38.0"),
    Case("truncation", None, r"\|arc_easy\|", args={"tokenizer": TOKENIZER, "max_length": "12"}, quality="LME030"),
    Case("sync-ca-bundle", None, r"\|arc_easy\|", server="tls", args={"tokenizer": TOKENIZER},
         env={"REQUESTS_CA_BUNDLE": "@ca-file"}),
    Case("async-verify-false", None, r"\|arc_easy\|", server="tls",
         args={"tokenizer": TOKENIZER, "num_concurrent": "2", "verify_certificate": "False"}, quality="LME028"),
    Case("async-verify-path", "LME006", r"ssl should be SSLContext, bool, Fingerprint or None", server="tls",
         args={"tokenizer": TOKENIZER, "num_concurrent": "2", "verify_certificate": "@ca-file"}),
    Case("batch-size-twice", "LME015", r"got multiple values for keyword argument 'batch_size'", tasks=("gsm8k",),
         model="local-chat-completions", path="/v1/chat/completions", chat=True, args={"batch_size": "4"}),
]


def _job_spec(case: Case, base_url: str | None, local_tokenizer: Path, workdir: Path, ca_file: Path) -> dict[str, Any]:
    """The LMEvalJob spec; `@name` placeholders in model args and env become paths made for this case."""
    args = {"model": MODEL, **({"base_url": base_url} if base_url else {}), **case.args}
    places = {"@local-tokenizer": str(local_tokenizer), "@ca-file": str(ca_file)}
    for place, model_type in (("@empty-dir", "granite"), ("@llama-dir", "llama")):
        directory = workdir / f"config-only-{model_type}"  # a model's config.json, no tokenizer files
        directory.mkdir()
        (directory / "config.json").write_text(f'{{"model_type": "{model_type}"}}')
        places[place] = str(directory)
    args = {k: places.get(v, v) for k, v in args.items()}
    spec: dict[str, Any] = {
        "model": case.model,
        "modelArgs": [{"name": k, "value": v} for k, v in args.items()],
        "taskList": {"taskNames": list(case.tasks)},
        "limit": "2",
        "allowOnline": case.online,
        "allowCodeExecution": case.code,
        "pod": {"container": {"env": [{"name": k, "value": places.get(v, v)} for k, v in case.env.items()]}},
    }
    if case.chat:
        spec["chatTemplate"] = {"enabled": True}
    return spec


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    image: jobimage.JobImage
    hub: HubServer
    servers: dict[str, ModelServer]
    closed_port: int
    ca_file: Path

    def url(self, case: Case) -> str | None:
        """The predictor's cluster-local URL, as on a cluster (resolved for the job's process only)."""
        if not case.path:
            return None
        if case.path == "@typo":
            typo = PREDICTOR_HOST.replace("predictor", "predictr")
            return f"http://{typo}:{self.servers['good'].port}/v1/completions"
        if case.path == "@no-scheme":
            return f"{PREDICTOR_HOST}:{self.servers['good'].port}/v1/completions"
        if case.server == "closed":
            return f"http://{PREDICTOR_HOST}:{self.closed_port}{case.path}"
        server = self.servers[case.server]
        return f"{server.scheme}://{PREDICTOR_HOST}:{server.port}{case.path}"

    def spec(self, case: Case, tmp: Path) -> dict[str, Any]:
        workdir = tmp / case.name
        workdir.mkdir()
        return _job_spec(case, self.url(case), self.image.hub / "models" / TOKENIZER, workdir, self.ca_file)

    def run(self, case: Case, tmp: Path, main: MainContainer) -> RunResult:
        workdir = tmp / case.name
        argv = lm_eval_argv(main.args)
        hub_port = self.closed_port if case.hub == "down" else self.hub.port
        env = pod_environment(main.env, workdir, hub_port, {PREDICTOR_HOST: "127.0.0.1"})
        (workdir / "my_tasks").mkdir()
        (workdir / "my_tasks" / "unsafe_gsm.yaml").write_text(UNSAFE_TASK)
        (workdir / "my_tasks" / "script_task.yaml").write_text(SCRIPT_TASK)
        return run_lm_eval(self.image, argv, env, workdir)


@dataclass(frozen=True)
class MainContainer:
    """What a job pod's `main` container runs: lm-eval's argv (`python -m lm_eval ...`) and its environment."""
    args: list[str]
    env: dict[str, str]


# The real driver starts lm-eval with the pod's env plus this (controllers/lmes/driver/driver.go, every line).
DRIVER_ENV = {"UNITXT_ALLOW_UNVERIFIED_CODE": "True"}
LM_EVAL = ["python", "-m", "lm_eval"]


def lm_eval_argv(args: list[str]) -> list[str]:
    """lm-eval's own arguments in a `main` container's args, without `python -m lm_eval`.

    The RHOAI lines pass them as separate args; upstream v1.38.0 as one `sh -ec` string (which the driver runs
    through sh: split here as sh splits these unquoted words).
    """
    words = shlex.split(args[2]) if args[:2] == ["sh", "-ec"] and len(args) == 3 else list(args)
    assert words[:3] == LM_EVAL, f"not an lm-eval command line: {args}"
    return words[3:]


def real_main_container(pod: dict[str, Any]) -> MainContainer:
    main = RM.main_container(pod)
    env = {str(e["name"]): str(e.get("value", "")) for e in main.get("env") or [] if "valueFrom" not in e}
    return MainContainer([str(a) for a in main.get("args") or []], env | DRIVER_ENV)


def simulated_main_container(case: Case, spec: dict[str, Any]) -> MainContainer:
    """The fallback without a real manager: the simulated operator's pod builder with the line's release row
    (rhoai-2.22's for a line that is no profile's, such as upstream v1.38.0)."""
    profile = R.PROFILES.get(case.line) or R.PROFILES["rhoai-2.22"]
    release = profile.release
    options = options_from_configmap({}, release)
    flags = release.unsafe_code_flags
    env = {e["name"]: str(e.get("value", "")) for e in build_env(spec, case.online, case.code, flags)}
    return MainContainer(generate_args(spec, options, flags), env | DRIVER_ENV)


def main_containers(cases: list[Case], specs: dict[str, dict[str, Any]], tmp: Path,
                    missing: dict[str, str]) -> dict[str, MainContainer]:
    """Every case's `main` container: from its line's real manager, else (warned) from the simulator.

    `missing` says, per line, why its real manager cannot run ('' when it can).
    """
    lines = sorted({c.line for c in cases})
    out: dict[str, MainContainer] = {}
    for line in [line for line in lines if missing[line]]:
        warnings.warn(f"live matrix: pods of {line} from the SIMULATED operator: {missing[line]}", stacklevel=1)
        out.update({c.name: simulated_main_container(c, specs[c.name]) for c in cases if c.line == line})
    real = [line for line in lines if not missing[line]]
    if not real:
        return out
    with RM.real_managers(tmp) as managers:
        for line in real:
            build = OB.build_for_line(line)
            assert build is not None
            pods = managers.pods(build, {c.name: specs[c.name] for c in cases if c.line == line})
            out.update({name: real_main_container(pod) for name, pod in pods.items()})
    return out


def _selected_cases(request: pytest.FixtureRequest) -> list[Case]:
    """Only the cases whose tests were collected for this session (so `-k` runs one quickly)."""
    names = set()
    for item in request.session.items:
        # Only a pytest.Function has .module: a session may also hold doctest or plugin items.
        if not isinstance(item, pytest.Function) or item.module is not request.module:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "case" in callspec.params:
            names.add(callspec.params["case"].name)
    return [c for c in CASES if c.name in names]


@dataclass(frozen=True)
class Live:
    runs: dict[str, RunResult]  # case name -> the real lm-eval's run
    mains: dict[str, MainContainer]  # case name -> the `main` container it ran as
    simulated: dict[str, str]  # line -> why its pods came from the simulator (absent: the real manager's)


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    image = jobimage.find()
    if image is None:
        if os.environ.get("LMEVAL_REQUIRE_CONTROLPLANE"):
            pytest.fail(jobimage.missing_reason())
        pytest.skip(jobimage.missing_reason())
    ca = TinyCA("sandbox-service-ca")
    pair = ca.server_cert((PREDICTOR_HOST, "127.0.0.1"))
    servers = {name: ModelServer(config, tls=(pair.cert_pem, pair.key_pem) if name == "tls" else None)
               for name, config in SERVERS.items()}
    hub = HubServer(image.hub, accepted_tokens=(HUB_TOKEN,))
    with tempfile.TemporaryDirectory(prefix="lmeval-live-") as tmp:
        ca_file = Path(tmp) / "ca.crt"
        ca_file.write_bytes(ca.cert_pem)
        harness = Harness(image, hub, servers, _closed_port(), ca_file)
        cases = _selected_cases(request)
        try:
            specs = {c.name: harness.spec(c, Path(tmp)) for c in cases}
            missing = {line: RM.missing_for_line(line) for line in {c.line for c in cases}}
            mains = main_containers(cases, specs, Path(tmp), missing)
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = {c.name: pool.submit(harness.run, c, Path(tmp), mains[c.name]) for c in cases}
                runs = {name: f.result() for name, f in futures.items()}
            yield Live(runs, mains, {line: why for line, why in missing.items() if why})
        finally:
            hub.stop()
            for server in servers.values():
                server.stop()


@pytest.fixture(scope="module")
def live_runs(live: Live) -> dict[str, RunResult]:
    return live.runs


UNSAFE_CASES = [c for c in CASES if "unsafe_gsm" in c.tasks]


@pytest.mark.parametrize("case", UNSAFE_CASES, ids=[c.name for c in UNSAFE_CASES])
def test_unsafe_code_flags_are_what_the_lines_real_controller_passes(case: Case, live: Live) -> None:
    """--confirm_run_unsafe_code and HF_ALLOW_CODE_EVAL=1 in the real pod exactly when the job asks for code
    execution (permitted) on a line whose release row says the controller passes them (2.25 on, not 2.22)."""
    if case.line in live.simulated:
        pytest.skip(f"{case.line}'s real manager cannot run: {live.simulated[case.line]}")
    main = live.mains[case.name]
    passes_flag = "--confirm_run_unsafe_code" in lm_eval_argv(main.args)
    sets_env = main.env.get("HF_ALLOW_CODE_EVAL") == "1"
    expected = case.code and R.PROFILES[case.line].release.unsafe_code_flags
    assert (passes_flag, sets_env) == (expected, expected), (main.args, main.env)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live_lm_eval_is_explained_by_the_doctor(case: Case, live_runs: dict[str, RunResult]) -> None:
    run = live_runs[case.name]
    log = run.log
    assert not run.timed_out, f"{case.name}: lm-eval did not finish\n{log[-3000:]}"
    hit = logs.failure(log)
    if case.rule is None:
        assert run.exit_code == 0, f"{case.name}: expected success, rc={run.exit_code}\n{log[-4000:]}"
        assert hit is None, f"{case.name}: the doctor blames a successful run on {hit}"
        assert re.search(case.evidence, log), f"{case.name}: results table missing\n{log[-2000:]}"
        results = run.results()
        assert results is not None and set(results["results"]) == set(case.tasks), "no lm-eval results JSON"
    else:
        assert run.exit_code != 0, f"{case.name}: expected a failure, lm-eval succeeded\n{log[-2000:]}"
        assert hit is not None, f"{case.name}: no rule explains the live log\n{log[-4000:]}"
        line = logs.split_lines(log)[hit.line - 1]
        assert (hit.rule_id, bool(re.search(case.evidence, line))) == (case.rule, True), (
            f"{case.name}: doctor says {hit.rule_id} from line {hit.line}: {line!r}\n{log[-4000:]}")
    if case.quality:
        assert case.quality in {h.rule_id for h in logs.quality_hits(log)}, f"{case.name}: {case.quality} missing"
