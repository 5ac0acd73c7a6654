"""scaffold: a kustomize directory with one lint-clean LMEvalJob per model, num_concurrent by GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmeval_setup.errors import UsageError
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.rules.spec import spec_findings
from lmeval_setup.scaffold.render import load_spec, parse_model_flag, render_files, spec_from_mapping, write_files

SPEC = {
    "namespace": "private-ai-demo",
    "tasks": ["arc_easy", "hellaswag"],
    "tokenizer": "ibm-granite/granite-3.1-8b-instruct",
    "limit": 100,
    "apiKeySecret": "model-token",
    "models": [
        {"name": "granite-w4a16", "gpus": 1,
         "baseUrl": "http://granite-w4a16-predictor.private-ai-demo.svc.cluster.local:8080/v1/completions"},
        {"name": "granite-fp16", "gpus": 4,
         "baseUrl": "http://granite-fp16-predictor.private-ai-demo.svc.cluster.local:8080/v1/completions"},
    ],
}


def jobs_of(files: dict[str, str]) -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in files.items() if name.startswith("lmevaljob-")}


def test_kustomization_lists_every_file() -> None:
    files = render_files(spec_from_mapping(SPEC))
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == "private-ai-demo"
    assert sorted(kustomization["resources"]) == sorted(n for n in files if n != "kustomization.yaml")


def test_one_job_per_model_with_concurrency_matched_to_gpus() -> None:
    jobs = jobs_of(render_files(spec_from_mapping(SPEC)))
    by_name = {j["metadata"]["name"]: j for j in jobs.values()}
    assert set(by_name) == {"lmeval-granite-w4a16", "lmeval-granite-fp16"}
    concurrency = {n: {a["name"]: a["value"] for a in j["spec"]["modelArgs"]}["num_concurrent"]
                   for n, j in by_name.items()}
    assert concurrency == {"lmeval-granite-w4a16": "1", "lmeval-granite-fp16": "4"}
    assert by_name["lmeval-granite-fp16"]["spec"]["limit"] == "100"


def test_every_job_is_lint_clean() -> None:
    for job in jobs_of(render_files(spec_from_mapping(SPEC))).values():
        assert spec_findings(job, Permissions(online=True, code_execution=False)) == []


def test_model_flags() -> None:
    entry = parse_model_flag("name=fp16,url=http://h:8080/v1/completions,gpus=4,model=granite")
    assert (entry.name, entry.gpus, entry.served_model) == ("fp16", 4, "granite")
    with pytest.raises(UsageError):
        parse_model_flag("name=fp16")
    with pytest.raises(UsageError):
        parse_model_flag("name=fp16,url=http://h/v1/completions,gpus=many")


@pytest.mark.parametrize(("change", "message"), [
    ({"namespace": "Not_A_Namespace"}, "namespace"),
    ({"tasks": []}, "no tasks"),
    ({"models": []}, "no models"),
    ({"tokenizer": None}, "no tokenizer"),
    ({"colour": "blue"}, "unknown key"),
])
def test_bad_specs_are_usage_errors(change: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_files(spec_from_mapping({**SPEC, **change}))


def test_write_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    files = render_files(load_spec(spec_file))
    write_files(tmp_path / "out", files)
    with pytest.raises(UsageError, match="exists"):
        write_files(tmp_path / "out", files)
    assert len(write_files(tmp_path / "out", files, force=True)) == len(files)
