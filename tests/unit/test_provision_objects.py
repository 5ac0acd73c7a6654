"""provision objects: the seed's settings, labels for teardown, secrets only by reference, spec hash."""

from __future__ import annotations

import json

import pytest
import yaml

from lmeval_setup.errors import UsageError
from lmeval_setup.platform.permissions import Permissions
from lmeval_setup.provision.objects import (
    API_KEY_ENV,
    CREATED_ANNOTATION,
    INSTANCE_LABEL,
    MANAGED_BY_LABEL,
    SPEC_HASH_ANNOTATION,
    ProvisionSpec,
    build_objects,
    lmevaljob_object,
)
from lmeval_setup.rules.spec import spec_findings

SECRET_VALUE = "sk-live-0123456789abcdefXYZ"


def good_spec(**overrides: object) -> ProvisionSpec:
    values: dict[str, object] = dict(
        namespace="ci-eval", served_model="granite",
        base_url="http://granite-predictor.models.svc.cluster.local:8080/v1/completions",
        tokenizer="ibm-granite/granite-3.1-8b-instruct", tasks=["arc_easy", "hellaswag"], limit="50",
        allow_online=True,
    )
    values.update(overrides)
    return ProvisionSpec(**values)  # type: ignore[arg-type]


def args_of(job: dict) -> dict[str, str]:
    return {a["name"]: a["value"] for a in job["spec"]["modelArgs"]}


def test_objects_in_apply_order_all_labelled_as_ours() -> None:
    objects = build_objects(good_spec())
    assert [o["kind"] for o in objects] == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "LMEvalJob"]
    assert all(o["metadata"]["labels"][MANAGED_BY_LABEL] == "lmeval-setup" for o in objects)
    assert all(o["metadata"]["labels"][INSTANCE_LABEL] == "lmeval-ci" for o in objects[1:])
    assert objects[0]["metadata"]["annotations"][CREATED_ANNOTATION] == "provision"
    binding = objects[3]
    assert binding["roleRef"]["name"] == objects[2]["metadata"]["name"]
    assert binding["subjects"][0]["name"] == objects[1]["metadata"]["name"]


def test_job_has_the_seed_settings_and_lints_clean() -> None:
    job = lmevaljob_object(good_spec())
    assert job["spec"]["model"] == "local-completions"
    assert args_of(job) == {
        "model": "granite", "base_url": "http://granite-predictor.models.svc.cluster.local:8080/v1/completions",
        "tokenizer": "ibm-granite/granite-3.1-8b-instruct", "num_concurrent": "1", "max_retries": "3",
        "timeout": "300",
    }
    assert job["spec"]["limit"] == "50" and job["spec"]["allowOnline"] is True
    assert job["spec"]["allowCodeExecution"] is False
    assert spec_findings(job, Permissions(online=True, code_execution=False)) == []


def test_cluster_that_forbids_online_gets_a_lint_error_not_a_silent_offline_job() -> None:
    job = lmevaljob_object(good_spec(allow_online=False))
    assert "LME001" in {f.rule_id for f in spec_findings(job, Permissions(False, False))}


def test_api_key_only_through_a_secret_reference() -> None:
    job = lmevaljob_object(good_spec(api_key_secret="model-token", api_key_secret_key="api-key"))
    (env,) = job["spec"]["pod"]["container"]["env"]
    assert env == {"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": "model-token", "key": "api-key"}}}
    assert "value" not in env


def test_inline_key_from_a_file_is_replaced_by_the_secret_reference() -> None:
    base = yaml.safe_load(f"""
apiVersion: trustyai.opendatahub.io/v1alpha1
kind: LMEvalJob
metadata: {{name: from-file, namespace: elsewhere, resourceVersion: "12", uid: abc}}
spec:
  model: local-completions
  modelArgs:
    - {{name: model, value: granite}}
    - {{name: base_url, value: "http://old:8080/v1/completions"}}
    - {{name: num_concurrent, value: "8"}}
  taskList: {{taskNames: [arc_easy]}}
  pod:
    container:
      env:
        - {{name: {API_KEY_ENV}, value: {SECRET_VALUE}}}
        - {{name: OTHER, value: kept}}
status: {{state: Complete}}
""")
    spec = ProvisionSpec(namespace="ci-eval", base_url="http://new:8080/v1/completions",
                         tokenizer="ibm-granite/granite-3.1-8b-instruct", api_key_secret="model-token",
                         base_job=base)
    job = lmevaljob_object(spec)
    assert SECRET_VALUE not in json.dumps(job)
    assert "status" not in job and "resourceVersion" not in job["metadata"] and "uid" not in job["metadata"]
    assert job["metadata"]["namespace"] == "ci-eval" and job["metadata"]["name"] == "lmeval-ci"
    args = args_of(job)
    assert args["base_url"] == "http://new:8080/v1/completions"  # the flag wins
    assert args["num_concurrent"] == "8"  # the file's tuning is kept when no flag is given
    assert args["max_retries"] == "3" and args["timeout"] == "300"  # seed defaults fill the gaps
    assert [e["name"] for e in job["spec"]["pod"]["container"]["env"]] == ["OTHER", API_KEY_ENV]


def test_rendered_manifests_never_contain_a_secret_value() -> None:
    objects = build_objects(good_spec(api_key_secret="model-token"))
    text = yaml.safe_dump_all(objects)
    assert "secretKeyRef" in text and "sk-" not in text


def test_spec_hash_is_stable_and_follows_the_spec() -> None:
    first = lmevaljob_object(good_spec())["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    assert lmevaljob_object(good_spec())["metadata"]["annotations"][SPEC_HASH_ANNOTATION] == first
    changed = lmevaljob_object(good_spec(limit="60"))["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    assert changed != first


@pytest.mark.parametrize(("overrides", "message"), [
    ({"tasks": []}, "no tasks"),
    ({"base_url": None}, "no endpoint"),
])
def test_missing_essentials_are_usage_errors(overrides: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_objects(good_spec(**overrides))


def test_from_file_must_be_an_lmevaljob() -> None:
    with pytest.raises(UsageError, match="expected an LMEvalJob"):
        build_objects(good_spec(base_job={"kind": "ConfigMap"}))


def test_two_jobs_in_one_namespace_get_their_own_runner_objects() -> None:
    a, b = build_objects(good_spec(job_name="eval-a")), build_objects(good_spec(job_name="eval-b"))
    assert {o["metadata"]["name"] for o in a[1:4]} == {"eval-a-runner"}
    assert {o["metadata"]["name"] for o in b[1:4]} == {"eval-b-runner"}
