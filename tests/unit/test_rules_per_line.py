"""Rules and fixes follow the LMEvalJob CRD each release line ships, never only the newest one.

RHOAI 2.16's CRD (config/crd/bases of its operator line) has taskRecipes[].template/.task/.metrics[] as
strings (the object form is a 422) and no spec.chatTemplate (pruned). So on 2.16 a string template is no
finding, LME026 must not offer chatTemplate.enabled, and no fix may set a field a line's CRD does not have.
The facts live in the release table (platform/releases.py); here they are pinned against every shipped CRD
at hand (a line's build in the cache, else its archive in ../shared/upstream), skipping the lines without one.
"""

from __future__ import annotations

from typing import Any

import pytest

from lmeval_setup.fix import values as V
from lmeval_setup.fix.engine import plan_job
from lmeval_setup.platform.releases import PROFILES, Release
from lmeval_setup.rules.catalog import RULES, autofix_for
from lmeval_setup.rules.spec import spec_findings
from lmeval_setup.sandbox import operator_build as OB

RHOAI_216 = PROFILES["rhoai-2.16"].release
RHOAI_222 = PROFILES["rhoai-2.22"].release
TYPE_OF = {bool: "boolean", str: "string", int: "integer", float: "number"}


def _at_hand(profile: str) -> bool:
    """A line of the profile is built or archived: never a `go mod download` from a unit test."""
    archives = OB.shared_dir() / OB.ARCHIVE_DIR
    return any(OB.build_for_line(line) is not None
               or (OB.OPERATOR_LINES[line].archive and (archives / str(OB.OPERATOR_LINES[line].archive)).is_file())
               for line in OB.lines_for_profile(profile))


def _spec_schema(profile: str) -> dict[str, Any] | None:
    shipped = OB.shipped_crd(profile) if _at_hand(profile) else None
    if shipped is None:
        return None
    version = shipped.body["spec"]["versions"][0]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


@pytest.fixture(scope="module")
def shipped_schemas() -> dict[str, dict[str, Any]]:
    """profile -> the spec schema of its line's shipped CRD, for every profile with one at hand."""
    found = {name: _spec_schema(name) for name in PROFILES}
    missing = [name for name, schema in found.items() if schema is None]
    if missing:
        print(f"no shipped LMEvalJob CRD for {', '.join(missing)}: "
              + "; ".join(OB.missing_crd_reason(name) for name in missing))
    if len(missing) == len(found):
        pytest.skip("no line's shipped LMEvalJob CRD is at hand: " + OB.missing_crd_reason("rhoai-2.16"))
    return {name: schema for name, schema in found.items() if schema is not None}


def _job(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "local-completions",
        "modelArgs": [{"name": "model", "value": "granite"},
                      {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"},
                      {"name": "tokenizer", "value": "ibm-granite/granite-3.1-8b-instruct"}],
        "taskList": {"taskNames": ["gsm8k"]},
        "allowOnline": True,
    }
    base.update(spec)
    return {"apiVersion": "trustyai.opendatahub.io/v1alpha1", "kind": "LMEvalJob",
            "metadata": {"name": "j", "namespace": "ns"}, "spec": base}


def _recipe_job(template: Any) -> dict[str, Any]:
    return _job(taskList={"taskRecipes": [{"card": {"name": "cards.wnli"}, "template": template}]})


def _chat_job() -> dict[str, Any]:
    return _job(model="local-chat-completions", modelArgs=[
        {"name": "model", "value": "granite"},
        {"name": "base_url", "value": "http://granite-predictor:8080/v1/chat/completions"}])


def _ids(findings: list[Any]) -> list[str]:
    return sorted(f.rule_id for f in findings)


# -- the release table against the shipped CRDs -------------------------------------------------------
def test_the_release_table_says_what_each_shipped_crd_has(shipped_schemas: dict[str, dict[str, Any]]) -> None:
    for profile, spec in shipped_schemas.items():
        release = PROFILES[profile].release
        recipe = spec["properties"]["taskList"]["properties"]["taskRecipes"]["items"]["properties"]
        assert release.lmevaljob_recipe_objects == (recipe["template"].get("type") == "object"), profile
        assert release.lmevaljob_recipe_objects == (recipe["task"].get("type") == "object"), profile
        assert release.lmevaljob_chat_template == ("chatTemplate" in spec["properties"]), profile


# -- every fix's merge patch against every line's CRD -------------------------------------------------
def _patch_problems(patch: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Where `patch` names a field the schema has not, or a static value of another type ("{fill}": any)."""
    if isinstance(patch, str) and patch.startswith("{") and patch.endswith("}"):
        return []
    if isinstance(patch, dict):
        if schema.get("type") != "object":
            return [f"{path} is {schema.get('type')!r} in this CRD, the fix writes an object"]
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
            return []
        props = schema.get("properties") or {}
        out = [f"{path}.{key} is not in this CRD (the apiserver prunes it)" for key in patch if key not in props]
        for key, value in patch.items():
            if key in props:
                out += _patch_problems(value, props[key], f"{path}.{key}")
        return out
    if isinstance(patch, list):
        if schema.get("type") != "array":
            return [f"{path} is {schema.get('type')!r} in this CRD, the fix writes a list"]
        return [p for i, item in enumerate(patch) for p in _patch_problems(item, schema.get("items") or {},
                                                                            f"{path}[{i}]")]
    wanted = TYPE_OF.get(type(patch))
    if schema.get("x-kubernetes-int-or-string") or wanted is None or schema.get("type") in (None, wanted):
        return []
    return [f"{path} is {schema.get('type')!r} in this CRD, the fix writes a {wanted}"]


def test_no_fix_sets_a_field_the_lines_shipped_crd_does_not_have(
        shipped_schemas: dict[str, dict[str, Any]]) -> None:
    problems = []
    for profile, spec in shipped_schemas.items():
        release = PROFILES[profile].release
        for rule in RULES.values():
            fix = autofix_for(rule, release)
            if fix.kind == "job-patch":
                problems += [f"{profile} {rule.id}: {p}"
                             for p in _patch_problems(fix.patch.get("spec"), spec, "spec")]
    assert problems == []


def test_the_patch_check_finds_a_pruned_field_and_a_wrong_type() -> None:
    spec = {"type": "object", "properties": {"model": {"type": "string"}}}
    assert _patch_problems({"chatTemplate": {"enabled": True}}, spec, "spec") == [
        "spec.chatTemplate is not in this CRD (the apiserver prunes it)"]
    assert _patch_problems({"model": {"name": "x"}}, spec, "spec") == [
        "spec.model is 'string' in this CRD, the fix writes an object"]


# -- LME016: the template form is per line ------------------------------------------------------------
def test_a_string_template_is_what_2_16_requires_and_an_object_is_a_422_there() -> None:
    assert "LME016" not in _ids(spec_findings(_recipe_job("templates.classification.default"), release=RHOAI_216))
    refused = [f for f in spec_findings(_recipe_job({"name": "templates.classification.default"}), release=RHOAI_216)
               if f.rule_id == "LME015"]
    assert [f.evidence[0].path for f in refused] == ["spec.taskList.taskRecipes[0].template"]
    assert "rhoai-2.16" in refused[0].message and "422" in refused[0].message
    assert "'templates.classification.default'" in refused[0].message


def test_a_string_task_and_metrics_are_no_finding_on_2_16() -> None:
    job = _job(taskList={"taskRecipes": [{"card": {"name": "cards.wnli"}, "template": "templates.t",
                                          "task": "tasks.classification", "metrics": ["metrics.accuracy"]}]})
    assert [f for f in spec_findings(job, release=RHOAI_216) if f.rule_id in ("LME015", "LME016")] == []
    later = _ids(spec_findings(job, release=RHOAI_222))
    assert "LME016" in later and "LME015" in later  # the object form on every later line


def test_a_string_template_is_still_lme016_on_later_lines_and_when_the_line_is_unknown() -> None:
    for release in (RHOAI_222, None):
        found = [f for f in spec_findings(_recipe_job("templates.t"), release=release) if f.rule_id == "LME016"]
        assert len(found) == 1 and "only RHOAI 2.16 requires the string" in found[0].message


def test_lme016_is_never_fixed_into_the_object_form_on_2_16() -> None:
    assert autofix_for(RULES["LME016"], RHOAI_216).kind == "manual"
    assert autofix_for(RULES["LME016"], RHOAI_222).kind == "job-patch"


# -- LME026: no chatTemplate on 2.16 -------------------------------------------------------------------
def _plan(job: dict[str, Any], release: Release) -> Any:
    findings = spec_findings(job, release=release)
    return plan_job(job, findings, V.FixContext(release=release))


def test_lme026_on_2_16_proposes_local_completions_not_a_pruned_chat_template() -> None:
    finding = next(f for f in spec_findings(_chat_job(), release=RHOAI_216) if f.rule_id == "LME026")
    assert "chatTemplate.enabled: true" not in finding.message and "local-completions" in finding.message
    plan = _plan(_chat_job(), RHOAI_216)
    fixed = plan.fixed["spec"]
    assert "chatTemplate" not in fixed and fixed["model"] == "local-completions"
    assert {"name": "base_url", "value": "http://granite-predictor:8080/v1/completions"} in fixed["modelArgs"]
    assert "LME026" in plan.fixed_rules


def test_lme026_on_2_16_fires_even_with_chat_template_set_because_the_line_prunes_it() -> None:
    job = _chat_job()
    job["spec"]["chatTemplate"] = {"enabled": True}
    assert "LME026" in _ids(spec_findings(job, release=RHOAI_216))
    assert "LME026" not in _ids(spec_findings(job, release=RHOAI_222))


def test_lme026_on_later_lines_still_enables_the_chat_template() -> None:
    plan = _plan(_chat_job(), RHOAI_222)
    assert plan.fixed["spec"]["chatTemplate"] == {"enabled": True}
    assert plan.fixed["spec"]["model"] == "local-chat-completions"


# -- the doctor judges a cluster's jobs by that cluster's line ----------------------------------------
def test_the_doctor_on_a_2_16_cluster_uses_its_crd() -> None:
    from doctor_support import add_job, cluster_snapshot, lmevaljob

    from lmeval_setup.doctor.evaluate import evaluate

    snap = cluster_snapshot("rhoai-2.16")
    add_job(snap, lmevaljob("recipe", taskList={"taskRecipes": [{"card": {"name": "cards.wnli"},
                                                                  "template": "templates.t"}]}))
    add_job(snap, lmevaljob("chat", model="local-chat-completions"))
    found = {(f.target.name, f.rule_id): f for f in evaluate(snap).findings}
    assert ("recipe", "LME016") not in found
    assert "chatTemplate.enabled: true" not in found[("chat", "LME026")].message


def test_lint_cluster_judges_the_manifests_by_the_clusters_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from doctor_support import cluster_snapshot

    from lmeval_setup.cli import common
    from lmeval_setup.cli import lint as lint_cli
    from lmeval_setup.lint import cluster as lint_cluster
    from lmeval_setup.lint import lint_text
    from lmeval_setup.platform.detect import detect

    facts = detect(cluster_snapshot("rhoai-2.16"))  # what detect reads from a 2.16 cluster
    monkeypatch.setattr(common, "connect", lambda kubeconfig, context: object())
    monkeypatch.setattr(lint_cluster, "read_facts", lambda kube: (facts, None))
    monkeypatch.setattr(lint_cluster, "reference_findings", lambda kube, jobs, namespace: [])
    result = lint_text("apiVersion: trustyai.opendatahub.io/v1alpha1\nkind: LMEvalJob\nmetadata: {name: j}\n"
                       "spec:\n  model: local-completions\n  taskList:\n    taskRecipes:\n"
                       "      - {card: {name: cards.wnli}, template: templates.t}\n", "job.yaml")
    assert "LME016" in _ids(result.findings)  # offline: the line is unknown
    lint_cli._cluster_checks(result, None, None, "default")
    assert "LME016" not in _ids(result.findings)


def test_provision_fix_on_a_2_16_cluster_never_sets_the_pruned_chat_template() -> None:
    from lmeval_setup.platform.permissions import Permissions
    from lmeval_setup.provision.objects import ProvisionSpec, build_objects
    from lmeval_setup.provision.run import Printer, RunOptions, lint_gate

    spec = ProvisionSpec(namespace="ci", model_type="local-chat-completions", served_model="granite",
                         base_url="http://granite-predictor:8080/v1/chat/completions",
                         tokenizer="ibm-granite/granite-3.1-8b-instruct", tasks=["gsm8k"], allow_online=True)
    objects = build_objects(spec)
    lines: list[str] = []
    assert lint_gate(objects, Permissions(online=True, code_execution=False), RunOptions(spec=spec, fix=True),
                     Printer(out=lines.append, err=lines.append), release=RHOAI_216), lines
    fixed = objects[-1]["spec"]
    assert "chatTemplate" not in fixed and fixed["model"] == "local-completions"


def test_the_doctor_on_2_16_does_not_propose_chat_template_from_the_log_either() -> None:
    from doctor_support import add_job, cluster_snapshot, lmevaljob, pod, with_status

    from lmeval_setup.doctor.evaluate import evaluate

    log = ("Traceback (most recent call last):\n"
           "AssertionError: chat-completions require the --apply_chat_template flag.\n")
    for profile, proposes_chat_template in (("rhoai-2.16", False), ("rhoai-2.22", True)):
        snap = cluster_snapshot(profile)
        job = with_status(lmevaljob("chat", model="local-chat-completions"), state="Complete", reason="Failed",
                          message="exit status 1")
        add_job(snap, job, pod("chat"), log)  # type: ignore[arg-type]
        found = [f for f in evaluate(snap).findings if f.rule_id == "LME026"]  # type: ignore[arg-type]
        assert len(found) == 1 and any(ev.source == "log" for ev in found[0].evidence), profile
        assert ("chatTemplate.enabled: true" in found[0].message) == proposes_chat_template, found[0].message


# -- fields a line's CRD does not have: pruned, so LME017 there ---------------------------------------
def _absent(ours: dict[str, Any], theirs: dict[str, Any], path: str) -> list[str]:
    """Top-most paths of `ours` that `theirs` has not (spec.pod.* left out: Kubernetes API fields; a field of
    another type, the recipe references of 2.16, is lmevaljob_recipe_objects' business)."""
    if (ours.get("type") or "object") != (theirs.get("type") or "object"):
        return []
    if ours.get("type") == "array":
        return _absent(ours.get("items") or {}, theirs.get("items") or {}, path + "[]")
    out: list[str] = []
    for key, sub in (ours.get("properties") or {}).items():
        here = f"{path}.{key}"
        if here == "spec.pod":
            continue
        if key not in (theirs.get("properties") or {}):
            out.append(here)
        else:
            out += _absent(sub, theirs["properties"][key], here)
    return out


def test_the_release_table_names_every_field_a_lines_crd_prunes(
        shipped_schemas: dict[str, dict[str, Any]]) -> None:
    from lmeval_setup.rules import schema as S

    newest = S.root_schema()["properties"]["spec"]
    by_row: dict[str, list[set[str]]] = {}
    for profile, spec in shipped_schemas.items():
        by_row.setdefault(PROFILES[profile].release.key, []).append(set(_absent(newest, spec, "spec")))
    for key, missing in by_row.items():
        release = next(p.release for p in PROFILES.values() if p.release.key == key)
        assert set(release.lmevaljob_absent_fields) == set.intersection(*missing), key


def test_a_field_the_line_prunes_is_lme017_there_and_s3_storage_is_no_offline_storage_on_2_16() -> None:
    job = _job(systemInstruction="be brief", allowOnline=False,
               offline={"storage": {"s3": {"bucket": {"name": "s3", "key": "bucket"}}}})
    on_216 = {(f.rule_id, f.evidence[0].path) for f in spec_findings(job, release=RHOAI_216)}
    assert {("LME017", "spec.systemInstruction"), ("LME017", "spec.offline.storage.s3")} <= on_216
    assert ("LME001", "spec.allowOnline") in on_216  # the pod gets nothing from a pruned s3
    assert not [p for r, p in on_216 if r == "LME015" and p.startswith("spec.offline.storage.s3")]
    later = {(f.rule_id, f.evidence[0].path) for f in spec_findings(job, release=RHOAI_222)}
    assert ("LME017", "spec.systemInstruction") not in later and ("LME001", "spec.allowOnline") not in later
