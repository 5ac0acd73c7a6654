"""provision --fix (issue 19 item 4): fixable lint errors are fixed in the rendered job, with the diff shown."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from lmeval_setup.cli.provision import provision
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.provision.objects import SPEC_HASH_ANNOTATION, ProvisionSpec, build_objects, spec_hash
from lmeval_setup.provision.run import Printer, RunOptions, lint_gate

ARGS = ["-n", "ci", "--render", "--model", "granite", "--base-url", "http://granite-predictor:8080/v1",
        "--tokenizer", "ibm-granite/granite-3.1-8b-instruct", "--tasks", "arc_easy", "--allow-online"]


def test_render_without_fix_stops_on_the_lint_error() -> None:
    result = CliRunner().invoke(provision, ARGS)
    assert result.exit_code == 1 and "LME002" in result.output


def test_render_with_fix_renders_the_fixed_job_and_prints_the_diff() -> None:
    result = CliRunner().invoke(provision, [*ARGS, "--fix"])
    assert result.exit_code == 0, result.output
    assert "-    value: http://granite-predictor:8080/v1\n" in result.stderr
    assert "+    value: http://granite-predictor:8080/v1/completions" in result.stderr
    job = list(yaml.safe_load_all(result.stdout))[-1]
    args = {a["name"]: a["value"] for a in job["spec"]["modelArgs"]}
    assert args["base_url"] == "http://granite-predictor:8080/v1/completions"
    assert job["metadata"]["annotations"][SPEC_HASH_ANNOTATION] == spec_hash(job)


def test_live_gate_fills_the_tokenizer_from_the_inference_service() -> None:
    spec = ProvisionSpec(namespace="ci", served_model="granite", base_url="http://granite-predictor:8080/v1/completions",
                         tokenizer="granite", tasks=["arc_easy"], allow_online=True)
    objects = build_objects(spec)
    isvc = {"metadata": {"name": "granite", "namespace": "ci"},
            "spec": {"predictor": {"model": {"storageUri": "hf://ibm-granite/granite-3.1-8b-instruct"}}}}
    lines: list[str] = []
    printer = Printer(out=lines.append, err=lines.append)
    permitted = Permissions(online=True, code_execution=False)
    assert not lint_gate(list(objects), permitted, RunOptions(spec=spec), printer)  # LME004 stops it
    assert lint_gate(objects, permitted, RunOptions(spec=spec, fix=True), printer, isvcs=[isvc])
    args = {a["name"]: a["value"] for a in objects[-1]["spec"]["modelArgs"]}
    assert args["tokenizer"] == "ibm-granite/granite-3.1-8b-instruct"
    assert any("hf://ibm-granite/granite-3.1-8b-instruct" in line for line in lines)


@pytest.mark.parametrize("online", [False])
def test_offline_cluster_keeps_the_error_and_names_bootstrap(online: bool) -> None:
    spec = ProvisionSpec(namespace="ci", served_model="granite", base_url="http://g:8080/v1/completions",
                         tokenizer="ibm-granite/granite-3.1-8b-instruct", tasks=["arc_easy"], allow_online=False)
    objects = build_objects(spec)
    lines: list[str] = []
    ok = lint_gate(objects, Permissions(online=online, code_execution=False),
                   RunOptions(spec=spec, fix=True), Printer(out=lines.append, err=lines.append))
    assert not ok  # allowOnline alone does not help while the cluster refuses it (LME102 now)
    assert any("bootstrap --allow-online" in line for line in lines)
    assert any("LME102" in line for line in lines)
