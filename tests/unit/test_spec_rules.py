"""Spec detectors: each rule on a minimal job, the upstream examples, and agreement with the CRD."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.rules import schema as S
from lmeval_setup.rules.spec import spec_findings

GOOD: dict[str, Any] = {
    "apiVersion": "trustyai.opendatahub.io/v1alpha1",
    "kind": "LMEvalJob",
    "metadata": {"name": "good", "namespace": "private-ai-demo"},
    "spec": {
        "model": "local-completions",
        "allowOnline": True,
        "taskList": {"taskNames": ["arc_easy"]},
        "modelArgs": [
            {"name": "model", "value": "granite"},
            {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"},
            {"name": "tokenizer", "value": "ibm-granite/granite-3.1-8b-instruct"},
            {"name": "num_concurrent", "value": "4"},
            {"name": "max_retries", "value": "3"},
            {"name": "timeout", "value": "300"},
        ],
    },
}


def job(**spec_changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    for key, value in spec_changes.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = value
    return doc


def with_arg(name: str, value: Any, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = doc or job()
    args = [a for a in doc["spec"]["modelArgs"] if a["name"] != name]
    if value is not ...:
        args.append({"name": name, "value": value})
    doc["spec"]["modelArgs"] = args
    return doc


def rules(doc: dict[str, Any], permissions: Permissions | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in spec_findings(doc, permissions):
        out.setdefault(f.rule_id, []).append(f.evidence[0].path or "")
    return out


def test_good_job_is_clean() -> None:
    assert spec_findings(job()) == []


@pytest.mark.parametrize(
    ("doc", "rule_id", "path"),
    [
        (job(batchSize=1), "LME015", "spec.batchSize"),
        (job(batchSize="auto:0"), "LME015", "spec.batchSize"),
        (job(limit="x"), "LME015", "spec.limit"),
        (job(model="vllm"), "LME015", "spec.model"),
        (job(taskList={"taskNames": ["a b"]}), "LME015", "spec.taskList.taskNames[0]"),
        (job(taskList={}), "LME015", "spec.taskList"),
        (job(model=None), "LME015", "spec"),
        (with_arg("seed", False), "LME015", "spec.modelArgs[6].value"),
        (with_arg("base_url", "$URL/v1/completions"), "LME015", "spec.modelArgs[5].value"),
        (with_arg("seed", ""), "LME015", "spec.modelArgs[6].value"),
        (with_arg("seed", "1;rm"), "LME015", "spec.modelArgs[6].value"),
        (job(taskList={"taskRecipes": [{"card": {"name": "cards.wnli"}, "template": "templates.x"}]}),
         "LME016", "spec.taskList.taskRecipes[0].template"),
        (job(env=[{"name": "A", "value": "b"}]), "LME017", "spec.env"),
        (job(pod={"container": {"resources": {}, "bogus": 1}}), "LME017", "spec.pod.container.bogus"),
        (with_arg("base_url", "http://h:8080/v1"), "LME002", "spec.modelArgs[5].value"),
        (with_arg("base_url", ...), "LME002", "spec.modelArgs"),
        (with_arg("tokenizer", "granite"), "LME004", "spec.modelArgs[5].value"),
        (with_arg("tokenizer", ...), "LME004", "spec.modelArgs[0].value"),
        (job(allowOnline=False), "LME001", "spec.allowOnline"),
        (job(allowOnline=None), "LME001", "spec"),
        (job(model="openai-completions"), "LME005", "spec.model"),
        (with_arg("api_key", "abcdefgh12345"), "LME018", "spec.modelArgs[6].value"),
        (with_arg("verify_certificate", "False"), "LME028", "spec.modelArgs[6].value"),
        (with_arg("timeout", ...), "LME029", "spec.modelArgs"),
        (job(taskList={"taskNames": ["humaneval"]}), "LME010", "spec.taskList.taskNames[0]"),
    ],
)
def test_rule_fires_at_path(doc: dict[str, Any], rule_id: str, path: str) -> None:
    found = rules(doc)
    assert rule_id in found, found
    assert path in found[rule_id], found


def test_chat_model_with_loglikelihood_task() -> None:
    doc = with_arg("base_url", "http://h:8080/v1/chat/completions", job(model="local-chat-completions"))
    doc["spec"]["taskList"] = {"taskNames": ["gsm8k", "arc_easy", "mmlu_anatomy", "truthfulqa_mc2"]}
    found = rules(doc)
    assert found["LME003"] == [
        "spec.taskList.taskNames[1]", "spec.taskList.taskNames[2]", "spec.taskList.taskNames[3]",
    ]
    assert "LME026" in found
    doc["spec"]["chatTemplate"] = {"enabled": True}
    assert "LME026" not in rules(doc)


def test_local_hf_home_tokenizer_is_fine_and_offline_storage_counts() -> None:
    doc = with_arg("tokenizer", "/opt/app-root/src/hf_home/granite", job(allowOnline=False))
    doc["spec"]["offline"] = {"storage": {"pvcName": "assets"}}
    assert spec_findings(doc) == []


def test_uncertain_offline_is_a_warning() -> None:
    doc = job(allowOnline=None, pod={"container": {"volumeMounts": [
        {"name": "hf", "mountPath": "/opt/app-root/src/hf_home"}]}})
    (finding,) = [f for f in spec_findings(doc) if f.rule_id == "LME001"]
    assert finding.severity == "warning"


def test_secrets_are_redacted_in_evidence() -> None:
    secret = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
    doc = with_arg("api_key", secret)
    doc["spec"]["pod"] = {"container": {"env": [{"name": "HF_TOKEN", "value": "hf_abcdefghijklmnopqrstuvwx"}]}}
    findings = spec_findings(doc)
    text = repr(findings)
    assert secret not in text and "hf_abcdefghijklmnopqrstuvwx" not in text
    assert sorted(f.rule_id for f in findings if f.rule_id == "LME018") == ["LME018", "LME018"]


def test_permissions_layer() -> None:
    doc = job(allowCodeExecution=True)
    denied = Permissions(online=False, code_execution=False)
    found = rules(doc, denied)
    assert found["LME102"] == ["spec.allowOnline"]
    assert found["LME103"] == ["spec.allowCodeExecution"]
    assert "LME102" not in rules(doc, Permissions(online=True, code_execution=True))
    assert "LME102" not in rules(doc)  # unknown permissions: no claim


def test_never_raises_on_odd_shapes() -> None:
    for spec in (None, [], "x", 1, {"modelArgs": "x"}, {"modelArgs": [None, 1, {"name": 3}]},
                 {"taskList": {"taskNames": [1, None]}}, {"pod": []}, {"model": ["x"]}):
        spec_findings({"kind": "LMEvalJob", "metadata": "x", "spec": spec})


# -- the upstream examples --------------------------------------------------------------------------
EXPECTED_EXAMPLES = {
    "01": set(),
    "02": {"LME015", "LME001"},
    "03": set(),
    "04": {"LME001"},
    "05": {"LME016", "LME001"},
}


def test_examples_judged_as_their_headers_say(fixtures_dir: Path) -> None:
    for path in sorted((fixtures_dir / "examples").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        errors = {f.rule_id for f in spec_findings(doc) if f.severity == "error"}
        assert errors == EXPECTED_EXAMPLES[path.name[:2]], path.name
        header = path.read_text().split("apiVersion:")[0]
        for rule_id in re.findall(r"LME\d{3}", header):
            assert rule_id in errors, (path.name, rule_id)


def test_example_02_placeholder_is_named(fixtures_dir: Path) -> None:
    path = next((fixtures_dir / "examples").glob("02-*.yaml"))
    messages = [f.message for f in spec_findings(yaml.safe_load(path.read_text())) if f.rule_id == "LME015"]
    assert any("$ROUTE_TO_MODEL" in m for m in messages)


# -- agreement with the upstream CRD ----------------------------------------------------------------
def _crd_schema(fixtures_dir: Path) -> dict[str, Any]:
    crd = next(d for d in yaml.safe_load_all((fixtures_dir / "crds/trustyai/lmevaljobs.yaml").read_text()) if d)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _paths(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, sub in (node.get("properties") or {}).items():
        out.append((f"{path}.{name}", sub))
        out += _paths(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        out += _paths(node["items"], f"{path}[]")
    return out


def test_shipped_schema_is_generated_from_upstream_crd(fixtures_dir: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen", Path(__file__).resolve().parents[2] / "tools" / "gen_lmevaljob_schema.py"
    )
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    regenerated = gen.schema_from_crd((fixtures_dir / "crds/trustyai/lmevaljobs.yaml").read_text())
    assert json.loads(json.dumps(regenerated)) == S.crd_schema()


def test_every_upstream_field_path_is_known_and_patterns_equal(fixtures_dir: Path) -> None:
    upstream = _crd_schema(fixtures_dir)
    paths = _paths(upstream["properties"]["spec"], "spec")
    assert len(paths) > 500  # the whole tree, including pod/container/volume/affinity types
    for path, node in paths:
        mine = S.schema_at(path)
        assert mine is not None, f"unknown-field checker does not know {path}"
        assert mine.get("pattern") == node.get("pattern"), path
        assert mine.get("enum") == node.get("enum"), path
        assert mine.get("type") == node.get("type"), path
    model_args = S.schema_at("spec.modelArgs[].value")
    assert model_args is not None and model_args["pattern"] == r"^[a-zA-Z0-9._/:\- ]*$"
    assert S.schema_at("spec.taskList.taskNames[]")["pattern"] == "^[a-zA-Z0-9._-]+$"  # type: ignore[index]
