"""Evaluation outcomes (pure): each seed mistake fails with lm-eval's real text, a good spec succeeds.

The final exception lines are checked three ways: against literal texts from
../shared/reference/lm-eval-errors.md, against that document's detector regexes (§4), and, when
../shared is present, against the last exception line of the captured lm-eval runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lmeval_setup.platform.releases import PROFILES
from lmeval_setup.sandbox.outcomes import (
    EvalInputs,
    base_url_problem,
    parse_driver_status,
    progress_bars,
    simulate,
    spec_mistakes,
)
from lmeval_setup.sandbox.trustyai_operator import build_pod, options_from_configmap, validate_job

HOST = "http://mistral-24b-quantized-predictor.private-ai-demo.svc.cluster.local:8080"
TOKENIZER = "ibm-granite/granite-3.1-8b-instruct"

# Detector regexes from lm-eval-errors.md §4 (what the doctor matches).
ERR = {
    "ERR-001": r"ConnectionError: Couldn't reach '(?P<dataset>[^']+)' on the Hub \(OfflineModeIsEnabled\)",
    "ERR-004": r"OSError: We couldn't connect to '[^']+' to load (?:this file|the files), (?:and )?couldn't find "
               r"(?:it|them) in the cached files(?: and it looks like (?P<name>\S+) is not the path to a directory "
               r"containing a file named (?P<file>\S+?)\.)?",
    "ERR-005": r"OSError: (?P<name>\S+) is not a local folder and is not a valid model identifier listed on "
               r"'https://huggingface\.co/models'",
    "ERR-007": r"OSError: Incorrect path_or_model_id: '(?P<path>[^']+)'\. Please provide either the path to a local "
               r"folder or the repo_id of a model on the Hub\.",
    "ERR-020": r"(?:API request failed with error message: |Response text: )\{\"detail\":\"Not Found\"\}"
               r"|HTTPError: 404 Client Error: Not Found for url: (?P<url>\S+)",
    "ERR-022": r"'loc': \('body', 'messages'\), 'msg': 'Field required'",
    "ERR-036": r"MissingSchema: Invalid URL '(?P<url>[^']*)': No scheme supplied",
    "ERR-040": r"NotImplementedError: Loglikelihood is not supported for chat completions\. Consider using the "
               r"completions API instead\.",
    "ERR-042": r"AssertionError: Prompt loglikelihoods are only supported by OpenAI's API for "
               r"\['babbage-002', 'davinci-002'\]\.",
    "ERR-043": r"KeyError: 'Could not automatically map (?P<model>.+?) to a tokeniser\.",
    "ERR-044": r"AssertionError: (?:chat-completions require the --apply_chat_template flag\.)",
    "ERR-073": r"update status: job completed\s+\{\"state\":\s*\{\"state\":\"Complete\",\"reason\":\"Failed\","
               r"\"message\":\"(?P<msg>[^\"]*)\"",
}


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
def test_seed_mistake_fails_with_the_real_exception(name: str) -> None:
    spec, permitted, rule, detector, final_line = SEED[name]
    outcome = simulate(EvalInputs.from_job(spec, online_permitted=permitted))
    log = "\n".join(line.text for line in outcome.script.lines)
    assert (outcome.rule_id, outcome.exit_code, outcome.succeeded) == (rule, 1, False)
    assert final_line in log.splitlines()
    assert re.search(ERR[detector], log), detector
    match = re.search(ERR["ERR-073"], log)
    assert match and match.group("msg") == "exit status 1"
    assert outcome.script.lines[-1].text.endswith("runtime.main") or "proc.go" in outcome.script.lines[-1].text


def test_good_spec_succeeds_with_results_in_lm_evals_format() -> None:
    outcome = simulate(EvalInputs.from_job(GOOD, online_permitted=True), seed="ns/good")
    assert outcome.rule_id is None and outcome.exit_code == 0 and outcome.results
    results = json.loads(outcome.results)
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config",
                "total_evaluation_time_seconds"):
        assert key in results
    task = results["results"]["arc_easy"]
    assert set(task) >= {"acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"}
    assert results["config"]["model_args"].startswith("model=granite,base_url=")
    assert isinstance(results["total_evaluation_time_seconds"], str)
    log = "\n".join(line.text for line in outcome.script.lines)
    status = parse_driver_status(log)
    assert status is not None and status["reason"] == "Succeeded" and status["message"] == "job completed"
    assert json.loads(status["results"]) == results
    assert status["progressBars"][-1] == {"message": "Requesting API", "percent": "100%", "elapsedTime": "0:00:02",
                                          "remainingTimeEstimate": "0:00:00", "count": "9504/9504"}
    assert simulate(EvalInputs.from_job(GOOD, online_permitted=True), seed="ns/good").results == outcome.results


@pytest.mark.parametrize("name", sorted(SEED))
def test_spec_mistakes_names_the_seed_rule(name: str) -> None:
    spec, permitted, rule, *_ = SEED[name]
    assert rule in spec_mistakes(EvalInputs.from_job(spec, online_permitted=permitted))


def test_good_spec_has_no_seed_mistakes() -> None:
    assert spec_mistakes(EvalInputs.from_job(GOOD, online_permitted=True)) == []
    assert spec_mistakes(EvalInputs.from_job(GOOD, online_permitted=False)) == ["LME001"]


@pytest.mark.parametrize("name", sorted(SEED))
def test_the_pod_the_operator_builds_fails_the_same_way(name: str) -> None:
    """from_job (lint/doctor view) and from_container (what the kubelet runs) agree."""
    spec, permitted, rule, *_ = SEED[name]
    release = PROFILES["rhoai-2.22"].release
    options = options_from_configmap(release.lmes_defaults, release)
    online = bool(spec["spec"].get("allowOnline")) and permitted
    pod = build_pod(spec, options, online=online, code_execution=False)
    inputs = EvalInputs.from_container(pod, pod["spec"]["containers"][0])
    assert inputs is not None
    assert simulate(inputs).rule_id == rule


def test_other_outcomes() -> None:
    chat_gen = job("local-chat-completions", {"model": "granite", "base_url": f"{HOST}/v1/chat/completions"},
                   ["gsm8k"], allowOnline=True)
    assert simulate(EvalInputs.from_job(chat_gen, online_permitted=True)).rule_id == "LME026"
    with_template = {**chat_gen, "spec": {**chat_gen["spec"], "chatTemplate": {"enabled": True}}}
    assert simulate(EvalInputs.from_job(with_template, online_permitted=True)).succeeded

    no_url = job("local-completions", {"model": "granite", "tokenizer": TOKENIZER}, ["gsm8k"], allowOnline=True)
    outcome = simulate(EvalInputs.from_job(no_url, online_permitted=True))
    assert outcome.rule_id == "LME002"
    assert re.search(ERR["ERR-036"], "\n".join(line.text for line in outcome.script.lines))

    to_chat = job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/chat/completions",
                                        "tokenizer": TOKENIZER}, ["gsm8k"], allowOnline=True)
    assert base_url_problem(EvalInputs.from_job(to_chat, online_permitted=True)) == "chat-endpoint"
    outcome = simulate(EvalInputs.from_job(to_chat, online_permitted=True))
    assert outcome.rule_id == "LME002"
    assert re.search(ERR["ERR-022"], "\n".join(line.text for line in outcome.script.lines))

    missing_dir = job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                            "tokenizer": "/opt/app-root/src/hf_home/flan"}, ["gsm8k"])
    outcome = simulate(EvalInputs.from_job(missing_dir, online_permitted=True))
    assert outcome.rule_id == "LME004"
    assert re.search(ERR["ERR-007"], "\n".join(line.text for line in outcome.script.lines))

    staged = job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                       "tokenizer": "/opt/app-root/src/hf_home/granite"}, ["arc_easy"],
                 offline={"storage": {"pvcName": "lmeval-data"}}, limit="10")
    outcome = simulate(EvalInputs.from_job(staged, online_permitted=False))
    assert outcome.succeeded
    assert json.loads(outcome.results or "{}")["n-samples"]["arc_easy"] == {"original": 2376, "effective": 10}
    text = "\n".join(line.text for line in outcome.script.lines)
    assert "Using the latest cached version of the dataset since allenai/ai2_arc couldn't be found" in text


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


FIXTURE_CASES = {
    # fixture log -> the job that reproduces it (its final exception line must be ours, verbatim)
    "s01_offline_dataset_arc.log": job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1/completions",
                                                             "tokenizer": "/opt/app-root/src/hf_home/tok"},
                                       ["arc_easy"], pod={"container": {"volumeMounts": [
                                           {"name": "t", "mountPath": "/opt/app-root/src/hf_home"}]}}),
    "s03_offline_tokenizer_servedname.log": job("local-completions", {"model": "granite",
                                                                      "base_url": f"{HOST}/v1/completions"}, ["mmlu"]),
    "s05_hub_repo_not_found_tokenizer.log": job("local-completions", {"model": "granite",
                                                                      "base_url": f"{HOST}/v1/completions"},
                                                ["mmlu"], allowOnline=True),
    "s07_chat_loglikelihood.log": job("local-chat-completions", {"model": "granite",
                                                                 "base_url": f"{HOST}/v1/chat/completions"},
                                      ["mmlu"], allowOnline=True, chatTemplate={"enabled": True}),
    "s10_openai_completions_tiktoken.log": job("openai-completions", {"model": "granite",
                                                                      "base_url": f"{HOST}/v1/completions"},
                                               ["gsm8k"], allowOnline=True),
    "s12_baseurl_v1_only.log": job("local-completions", {"model": "granite", "base_url": f"{HOST}/v1",
                                                         "tokenizer": TOKENIZER}, ["gsm8k"], allowOnline=True),
}


def _last_exception_lines(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith(("[exit code", "Requesting API"))]
    last_tb = max(i for i, ln in enumerate(lines) if ln.startswith("Traceback"))
    return [ln for ln in lines[last_tb:] if not ln.startswith((" ", "Traceback"))]


@pytest.mark.parametrize("fixture", sorted(FIXTURE_CASES))
def test_final_exception_matches_the_captured_lm_eval_run(fixtures_dir: Path, fixture: str) -> None:
    path = fixtures_dir / "logs" / "lm-eval-0.4.12" / fixture
    expected = _last_exception_lines(path.read_text())
    outcome = simulate(EvalInputs.from_job(FIXTURE_CASES[fixture], online_permitted=True))
    ours = "\n".join(line.text for line in outcome.script.lines if line.stamp is None)
    # The mock Hub in the captured run answered at the model server's host; ours is huggingface.co.
    expected = [ln.replace(HOST, "https://huggingface.co") if "resolve/main" in ln else ln for ln in expected]
    assert expected[-1] in ours.splitlines()
