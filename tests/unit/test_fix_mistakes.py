"""The fix engine's second opinion (fix/mistakes.py): the seed's mistakes found from what a job gives lm-eval,
and the driver's output format (sandbox/driverlog.py) the simulated operator reads. No outcome is simulated
here: sandbox jobs run the real lm-eval (tests/integration/test_lmeval_live.py proves the log rules)."""

from __future__ import annotations

from typing import Any

import pytest

from lmeval_setup.fix.mistakes import EvalInputs, base_url_problem, spec_mistakes
from lmeval_setup.sandbox.driverlog import parse_driver_status, progress_bars
from lmeval_setup.sandbox.trustyai_operator import validate_job

HOST = "http://mistral-24b-quantized-predictor.private-ai-demo.svc.cluster.local:8080"
TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"


def job(model: str, args: dict[str, str], tasks: list[str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "j", "namespace": "private-ai-demo", "uid": "u-1"},
            "spec": {"model": model, "modelArgs": [{"name": k, "value": v} for k, v in args.items()],
                     "taskList": {"taskNames": tasks}, **spec}}


GOOD = job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions", "tokenizer": TOKENIZER},
           ["arc_easy"], allowOnline=True)

# name -> (job, permitted online, expected rule, detector id, exact final line)
SEED: dict[str, tuple[dict, bool, str, str, str]] = {
    "offline-dataset": (
        job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                  "tokenizer": "/opt/app-root/src/hf_home/granite"}, ["arc_easy"],
            offline={"storage": {"pvcName": ""}}, pod={"container": {"volumeMounts": [
                {"name": "tok", "mountPath": "/opt/app-root/src/hf_home"}]}}),
        True, "LME001", "ERR-001",
        "ConnectionError: Couldn't reach 'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled)"),
    "offline-tokenizer-not-permitted": (
        job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions", "tokenizer": TOKENIZER},
            ["arc_easy"], allowOnline=True),
        False, "LME001", "ERR-004",
        f"OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the cached "
        f"files and it looks like {TOKENIZER} is not the path to a directory containing a file named config.json."),
    "base-url-v1": (
        job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1", "tokenizer": TOKENIZER}, ["gsm8k"],
            allowOnline=True),
        True, "LME002", "ERR-020", f"requests.exceptions.HTTPError: 404 Client Error: Not Found for url: {HOST}/v1"),
    "chat-loglikelihood": (
        job("local-chat-completions", {"model": "granite", "base_url": f"{HOST}/v1/chat/completions"}, ["hellaswag"],
            allowOnline=True, chatTemplate={"enabled": True}),
        True, "LME003", "ERR-040",
        "NotImplementedError: Loglikelihood is not supported for chat completions. Consider using the completions "
        "API instead."),
    "served-name-tokenizer-online": (
        job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions"}, ["arc_easy"],
            allowOnline=True),
        True, "LME004", "ERR-005",
        "OSError: granite is not a local folder and is not a valid model identifier listed on "
        "'https://huggingface.co/models'"),
    "served-name-tokenizer-offline": (
        job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions"}, ["arc_easy"]),
        True, "LME004", "ERR-004",
        "OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the cached "
        "files and it looks like granite is not the path to a directory containing a file named config.json."),
    "openai-completions-tiktoken": (
        job("openai-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions"}, ["arc_easy"],
            allowOnline=True),
        True, "LME005", "ERR-043",
        "KeyError: 'Could not automatically map granite to a tokeniser. Please use `tiktoken.get_encoding` to "
        "explicitly get the tokeniser you expect.'"),
    "openai-completions-loglikelihood": (
        job("openai-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                   "tokenizer_backend": "huggingface", "tokenizer": TOKENIZER}, ["arc_easy"],
            allowOnline=True),
        True, "LME005", "ERR-042",
        "AssertionError: Prompt loglikelihoods are only supported by OpenAI's API for ['babbage-002', 'davinci-002']."),
}


@pytest.mark.parametrize("name", sorted(SEED))
def test_spec_mistakes_names_the_seed_rule(name: str) -> None:
    spec, permitted, rule, *_ = SEED[name]
    assert rule in spec_mistakes(EvalInputs.from_job(spec, online_permitted=permitted))


def test_good_spec_has_no_seed_mistakes() -> None:
    assert spec_mistakes(EvalInputs.from_job(GOOD, online_permitted=True)) == []
    assert spec_mistakes(EvalInputs.from_job(GOOD, online_permitted=False)) == ["LME001"]


def test_base_url_problems() -> None:
    def problem(url: str | None) -> str | None:
        args = {"model": "granite", "tokenizer": TOKENIZER, **({"base_url": url} if url else {})}
        return base_url_problem(EvalInputs.from_job(job("local-completions", args, ["gsm8k"]), online_permitted=True))

    assert problem(f"{HOST}/v1/completions") is None
    assert problem(f"{HOST}/v1/chat/completions") == "chat-endpoint"
    assert problem(f"{HOST}/v1") == "wrong-path"
    assert problem(None) == "missing"


def test_staged_assets_need_no_hub() -> None:
    staged = job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                       "tokenizer": "/opt/app-root/src/hf_home/granite"}, ["arc_easy"],
                 offline={"storage": {"pvcName": "lmeval-data"}}, limit="10")
    assert spec_mistakes(EvalInputs.from_job(staged, online_permitted=False)) == []


def test_progress_bars_follow_the_driver_regex() -> None:
    lines = [
        "Generating train split: 100%|██████████| 2251/2251 [00:00<00:00, 386704.01 examples/s]",
        "  6%|▌         | 141/2376 [00:00<00:01, 1405.04it/s]",  # no title: not a progress bar for the driver
        "Requesting API:  50%|█████     | 10/20 [00:05<00:05, 2.00it/s]",
        "Requesting API: 100%|██████████| 20/20 [00:10<00:00, 2.00it/s]",
    ]
    assert progress_bars(lines) == [
        {"message": "Generating train split", "percent": "100%", "elapsedTime": "0:00:00",
         "remainingTimeEstimate": "0:00:00", "count": "2251/2251"},
        {"message": "Requesting API", "percent": "100%", "elapsedTime": "0:00:10",
         "remainingTimeEstimate": "0:00:00", "count": "20/20"},
    ]


def test_operator_validation_messages() -> None:
    assert validate_job({"model": "local-completions", "modelArgs": [{"name": "base_url", "value": ""}]}) == (
        "invalid model arguments: model argument[0] value: argument value contains invalid characters "
        "(only alphanumeric, ., _, /, :, -, and spaces allowed)")
    assert validate_job({"model": "local-completions", "limit": "ten"}) == "invalid limit: limit must be a valid number"
    assert validate_job({"model": "vllm"}).startswith("invalid model: model name must be one of")
    assert validate_job(GOOD["spec"]) == ""


def test_parse_driver_status_reads_the_last_status_line() -> None:
    line = ('2026-12-06T10:00:00Z\tINFO\tdriver\tupdate status: job completed\t'
            '{"state": {"state":"Complete","reason":"Failed","message":"exit status 1"}}')
    assert parse_driver_status("lm-eval output\n" + line + "\n") == {
        "state": "Complete", "reason": "Failed", "message": "exit status 1"}
    assert parse_driver_status("no status here") is None
