"""The fix engine (issue 19 item 1): catalog fix data applied to the seed's jobs, values with their sources."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lmeval_setup.fix.engine import apply_patch, fixed_job_manifest, merge_patch_between, plan_job
from lmeval_setup.fix.mistakes import EvalInputs, spec_mistakes
from lmeval_setup.fix.values import FixContext
from lmeval_setup.rules.catalog import RULES
from lmeval_setup.rules.spec import spec_findings
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import scenarios as S


def _isvc(storage_uri: str = S.MODELCAR) -> dict[str, Any]:
    isvc = S.inference_service()
    isvc["spec"]["predictor"]["model"]["storageUri"] = storage_uri
    isvc["status"] = {"url": J.ENDPOINT}
    return isvc


def _ctx(job: dict[str, Any], **kw: Any) -> FixContext:
    siblings = [j for j in J.seed_jobs() if j["metadata"]["name"] != job["metadata"]["name"]]
    defaults: dict[str, Any] = {"inference_services": [_isvc()], "sibling_jobs": siblings,
                                "online_permitted": True, "code_execution_permitted": True}
    defaults.update(kw)
    return FixContext(**defaults)


def _plan(job: dict[str, Any], **kw: Any) -> Any:
    return plan_job(job, spec_findings(job), _ctx(job, **kw))


@pytest.mark.parametrize("seed", [s for s in J.SEED_JOBS if not s.should_succeed], ids=lambda s: s.name)
def test_every_seed_mistake_is_fixed_and_the_fixed_job_would_run(seed: J.SeedJob) -> None:
    job = seed.for_namespace(J.DEMO_NAMESPACE)
    plan = _plan(job)
    assert seed.expected_rule in plan.fixed_rules
    assert not plan.manual
    assert spec_findings(plan.fixed) == []  # the fixed rules (and the rest) no longer fire
    # and the second opinion, from what the fixed job gives lm-eval, finds no seed mistake in it
    assert spec_mistakes(EvalInputs.from_job(plan.fixed, online_permitted=True)) == []
    assert job == seed.for_namespace(J.DEMO_NAMESPACE)  # the original is not touched


def test_values_say_where_they_came_from() -> None:
    job = J.seed_job("eval-tokenizer-served-name").for_namespace(J.DEMO_NAMESPACE)
    step = next(s for s in _plan(job).steps if s.rule_id == "LME004")
    (value,) = step.values
    assert value.path == "spec.modelArgs[tokenizer]" and value.value == J.HF_TOKENIZER
    assert "InferenceService granite" in value.source and "modelcar" in value.source


def test_tokenizer_from_hf_storage_uri_wins_over_siblings() -> None:
    job = J.seed_job("eval-tokenizer-served-name").for_namespace(J.DEMO_NAMESPACE)
    plan = _plan(job, inference_services=[_isvc("hf://acme/granite-tuned")])
    assert dict((a["name"], a["value"]) for a in plan.fixed["spec"]["modelArgs"])["tokenizer"] == "acme/granite-tuned"


def test_tokenizer_from_the_models_endpoint_root() -> None:
    job = J.seed_job("eval-tokenizer-served-name").for_namespace(J.DEMO_NAMESPACE)
    answer = {"data": [{"id": "granite", "root": "acme/served-root"}]}
    plan = _plan(job, inference_services=[_isvc("pvc://models/granite")], models_endpoint=lambda isvc: answer)
    step = next(s for s in plan.steps if s.rule_id == "LME004")
    assert step.values[0].value == "acme/served-root" and "/v1/models root" in step.values[0].source


def test_a_value_that_cannot_be_inferred_is_a_manual_step() -> None:
    job = J.seed_job("eval-tokenizer-served-name").for_namespace(J.DEMO_NAMESPACE)
    plan = _plan(job, inference_services=[], sibling_jobs=[])
    (step,) = [s for s in plan.steps if s.rule_id == "LME004"]
    assert step.kind == "manual" and "cannot infer tokenizer" in step.manual[0]
    assert {"name": "tokenizer", "value": "granite"} in plan.fixed["spec"]["modelArgs"]


def test_chat_template_is_not_enabled_once_the_model_is_no_longer_a_chat_model() -> None:
    job = J.seed_job("eval-chat-loglikelihood").for_namespace(J.DEMO_NAMESPACE)
    assert "LME026" in {f.rule_id for f in spec_findings(job)}
    plan = _plan(job)
    assert "LME026" not in plan.fixed_rules and "chatTemplate" not in plan.fixed["spec"]
    assert plan.fixed["spec"]["model"] == "local-completions"


def test_offline_job_on_a_cluster_without_online_access_gets_the_bootstrap_plan() -> None:
    job = J.seed_job("eval-no-online-access").for_namespace(J.DEMO_NAMESPACE)
    plan = _plan(job, online_permitted=False)
    assert plan.fixed["spec"]["allowOnline"] is True
    assert plan.bootstrap_flags == ("--allow-online",)
    assert _plan(job, online_permitted=True).bootstrap_flags == ()


def test_client_tuning_adds_only_missing_arguments() -> None:
    job = J.seed_job("eval-good").for_namespace(J.DEMO_NAMESPACE)
    args = {a["name"]: a["value"] for a in _plan(job).fixed["spec"]["modelArgs"]}
    assert args["num_concurrent"] == "1" and args["timeout"] == "300"  # kept, added


def test_merge_patch_turns_the_original_into_the_fixed_job() -> None:
    job = J.seed_job("eval-openai-completions-vllm").for_namespace(J.DEMO_NAMESPACE)
    plan = _plan(job)
    patched = copy.deepcopy(job)
    apply_patch(patched, plan.merge_patch())
    assert patched["spec"] == plan.fixed["spec"]
    assert merge_patch_between({"a": 1, "b": 2}, {"a": 1}) == {"b": None}


def test_fixed_manifest_is_labelled_with_the_job_it_fixes() -> None:
    job = J.seed_job("eval-base-url-no-completions").for_namespace(J.DEMO_NAMESPACE)
    job["metadata"].update(resourceVersion="7", uid="u", labels={"team": "a"})
    body = fixed_job_manifest(_plan(job), "eval-base-url-no-completions-fix")
    assert body["metadata"]["labels"] == {"team": "a", "lmeval-setup.io/fixes": "eval-base-url-no-completions"}
    assert "resourceVersion" not in body["metadata"] and "status" not in body


def test_template_string_becomes_an_object() -> None:
    job = J.seed_job("eval-good").for_namespace(J.DEMO_NAMESPACE)
    job["spec"]["taskList"] = {"taskRecipes": [{"card": {"name": "cards.wnli"}, "template": "templates.x"}]}
    plan = _plan(job)
    assert plan.fixed["spec"]["taskList"]["taskRecipes"][0]["template"] == {"name": "templates.x"}
    assert "LME016" not in {f.rule_id for f in spec_findings(plan.fixed)}


def test_catalog_fix_data_is_consistent() -> None:
    from lmeval_setup.fix.values import FILLS

    for rule in RULES.values():
        fix = rule.autofix
        assert set(fix.fills) <= set(FILLS), rule.id
        if fix.kind == "job-patch":
            assert fix.patch, rule.id
        if fix.needs_permission:
            assert fix.bootstrap_flags, rule.id
    assert all(RULES[r].autofix.automatic for r in ("LME001", "LME002", "LME003", "LME004", "LME005"))


def test_plan_document_validates_against_the_shipped_schema() -> None:
    from schemasupport import validate

    from lmeval_setup.fix.remediate import FixRun, JobFix
    from lmeval_setup.fix.render import plan_document, plan_text

    jobs = []
    for seed in J.SEED_JOBS:
        job = seed.for_namespace(J.DEMO_NAMESPACE)
        findings = spec_findings(job)
        jobs.append(JobFix(_plan(job, inference_services=[], sibling_jobs=[]), f"{seed.name}-fix", findings=findings))
    run = FixRun(jobs=jobs, bootstrap_flags=("--allow-online",), bootstrap_rules=["LME102"], notes=["a note"])
    for applying, waited in ((False, False), (True, True)):
        document = plan_document(run, applying=applying, waited=waited)
        validate(document, "fix-plan")
        assert document["dryRun"] is not applying
    text = plan_text(run, applying=False)
    assert "cluster: lmeval-setup bootstrap --allow-online" in text and "manual" in text


def test_a_rule_the_caller_left_out_is_not_fixed_in_a_later_round() -> None:
    """--ignore, --rule or a suppression removed LME029: the re-check after LME002 must not bring it back."""
    job = J.seed_job("eval-base-url-no-completions").for_namespace(J.DEMO_NAMESPACE)
    given = [f for f in spec_findings(job) if f.rule_id != "LME029"]
    plan = plan_job(job, given, _ctx(job))
    assert plan.fixed_rules == ["LME002"]
    assert "timeout" not in {a["name"] for a in plan.fixed["spec"]["modelArgs"]}


def test_the_cluster_fix_never_grants_a_permission_its_findings_do_not_ask_for() -> None:
    """bootstrap permits code execution unless told otherwise: the cluster-level fix of an online finding
    pins it to what the cluster has (denied when unknown), so `--fix --yes` widens nothing else."""
    from lmeval_setup.fix.remediate import pin_unrequested_permissions as pin
    from lmeval_setup.platform.permissions import Permissions

    denied = Permissions(online=False, code_execution=False)
    assert pin(["--allow-online"], denied) == ("--allow-online", "--deny-code-execution")
    assert pin(["--allow-online"], Permissions(online=False, code_execution=True)) == ("--allow-online",)
    assert pin(["--allow-online", "--allow-online"], None) == ("--allow-online", "--deny-code-execution")
    assert pin(["--allow-code-execution"], denied) == ("--allow-code-execution", "--deny-online")
    assert pin([], denied) == ()  # no cluster-level fix: no bootstrap run at all
