"""The LMEvalJob CRD each RHOAI line ships, on a real kube-apiserver: a bad spec.model is refused at admission.

The CRDs are read from the operator sources in ../shared/upstream (skipped with a reason when absent) and applied
together to the session's control plane, each under a group of its own (only the schema matters, and nobody
else's LMEvalJob CRD is touched); a job with an unknown model type is POSTed (dry run) and the apiserver answers
422 naming spec.model. tests/unit/test_operator_sources.py keeps the release table's lmevaljob_model_enum equal
to these CRDs, test_sandbox_profiles.py the sandbox's own CRD equal to the table.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from testsupport import wait_for

from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox.profiles import CRD_PATH, apply, wait_established

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", REPO.parent / "shared"))
NAMESPACE = "default"
ARCHIVE_LINES = [n for n, line in OB.OPERATOR_LINES.items() if line.archive]


def _shipped_crd(line: str) -> dict[str, Any] | None:
    archive = SHARED / "upstream" / "trustyai-service-operator" / str(OB.OPERATOR_LINES[line].archive)
    if not archive.is_file():
        return None
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.split("/", 1)[-1] == str(OB.CRD_RELATIVE):
                handle = tar.extractfile(member)
                assert handle is not None
                return dict(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    raise AssertionError(f"{archive} has no {OB.CRD_RELATIVE}")


def _group(line: str) -> str:
    """Each line's CRD is served under a group of its own, so all of them are installed at once."""
    return f"{line.replace('.', '-')}.{R.LMEVAL_GROUP}"


def _renamed(crd: dict[str, Any], line: str) -> dict[str, Any]:
    body = {k: v for k, v in crd.items() if k != "status"}
    body["spec"] = {**crd["spec"], "group": _group(line)}
    body["metadata"] = {"name": f"{crd['spec']['names']['plural']}.{_group(line)}"}
    return body


@pytest.fixture(scope="module")
def installed(kube: Kube) -> dict[str, str]:
    """line -> its jobs path, for every line whose sources are present (one Established wait for all)."""
    paths: dict[str, str] = {}
    names = []
    for line in ARCHIVE_LINES:
        crd = _shipped_crd(line)
        if crd is None:
            continue
        body = _renamed(crd, line)
        apply(kube, f"{CRD_PATH}/{body['metadata']['name']}", body)
        names.append(body["metadata"]["name"])
        paths[line] = resource_path(_group(line), R.LMEVAL_VERSION, "lmevaljobs", NAMESPACE)
    wait_established(kube, names)
    for path in paths.values():
        wait_for(f"{path} served", lambda p=path: _served(kube, p), timeout=30)  # type: ignore[misc]
    return paths


def _job(group: str, name: str, model: str) -> dict[str, Any]:
    return {"apiVersion": f"{group}/{R.LMEVAL_VERSION}", "kind": "LMEvalJob",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"model": model, "taskList": {"taskNames": ["arc_easy"]}}}


def _served(kube: Kube, path: str) -> bool:
    try:
        kube.create(path, _job(path.split("/")[2], "probe", "hf"), dry_run=True)
        return True
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise


@pytest.mark.shared
@pytest.mark.parametrize("line", ARCHIVE_LINES)
def test_shipped_crd_refuses_an_unknown_model_at_admission(kube: Kube, installed: dict[str, str], line: str) -> None:
    if line not in installed:
        pytest.skip(f"the sources of {line} are not in ../shared/upstream")
    with pytest.raises(ApiError) as refused:
        kube.create(installed[line], _job(_group(line), "bad-model", "vllm"), dry_run=True)
    assert refused.value.status == 422, f"{line}: {refused.value}"
    assert 'spec.model: Unsupported value: "vllm"' in str(refused.value)


@pytest.mark.shared
@pytest.mark.parametrize("line", ARCHIVE_LINES)
def test_what_the_fixes_write_is_kept_by_the_lines_crd(kube: Kube, installed: dict[str, str], line: str) -> None:
    """The fix engine, told the cluster's line, writes nothing that line's apiserver refuses or prunes: a chat job
    fixed for LME026 (chatTemplate.enabled, or local-completions on RHOAI 2.16) and every rule's static patch come
    back from a dry-run create exactly as sent. tests/unit/test_rules_per_line.py checks the same offline."""
    from lmeval_setup.fix import values as V
    from lmeval_setup.fix.engine import apply_patch, plan_job
    from lmeval_setup.rules.catalog import RULES, autofix_for
    from lmeval_setup.rules.spec import spec_findings

    if line not in installed:
        pytest.skip(f"the sources of {line} are not in ../shared/upstream")
    release = R.PROFILES[line].release
    chat = _job(_group(line), "chat", "local-chat-completions")
    chat["spec"]["taskList"] = {"taskNames": ["gsm8k"]}
    chat["spec"]["modelArgs"] = [{"name": "base_url", "value": "http://m:8080/v1/chat/completions"}]
    fixed = plan_job(chat, spec_findings(chat, release=release), V.FixContext(release=release)).fixed
    candidates = [("LME026 plan", fixed)]
    for rule in RULES.values():
        fix = autofix_for(rule, release)
        static = {k: v for k, v in (fix.patch.get("spec") or {}).items() if not str(v).startswith("{")}
        if fix.kind == "job-patch" and static:
            job = _job(_group(line), rule.id.lower(), "local-completions")
            apply_patch(job["spec"], {k: v for k, v in static.items() if k != "modelArgs"}
                        | ({"modelArgs": [a for a in static["modelArgs"] if not str(a.get("value")).startswith("{")]}
                           if "modelArgs" in static else {}))
            candidates.append((rule.id, job))
    for what, job in candidates:
        created = kube.create(installed[line], job, dry_run=True)
        assert _kept(job["spec"], created["spec"]), f"{line} {what}: {job['spec']} came back as {created['spec']}"


def _kept(sent: Any, served: Any) -> bool:
    """Everything sent is served back unchanged (the apiserver may add its defaults, never drop or change)."""
    if isinstance(sent, dict):
        return isinstance(served, dict) and all(k in served and _kept(v, served[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(served, list) and len(sent) == len(served) and all(map(_kept, sent, served))
    return bool(sent == served)


def _triggering_jobs(group: str) -> list[dict[str, Any]]:
    """One job per fixable mistake (with its dynamic values to infer): the seed's five, a chat model on a
    generative task (LME026), a code-executing task (LME010), a string recipe template (LME016), and client
    tuning left unset (LME029, on most of them)."""
    from lmeval_setup.sandbox import jobs as J

    jobs = [seed.for_namespace(NAMESPACE) for seed in J.SEED_JOBS if not seed.should_succeed]
    chat = J.lmevaljob("chat", "local-chat-completions", {"model": J.SERVED_MODEL, "base_url": J.CHAT_URL},
                       allow_online=True, tasks=("gsm8k",), namespace=NAMESPACE)
    code = J.lmevaljob("code", "local-completions", {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL},
                       allow_online=True, tasks=("humaneval",), namespace=NAMESPACE)
    recipe = J.lmevaljob("recipe", "local-completions", {"model": J.SERVED_MODEL, "base_url": J.COMPLETIONS_URL},
                         allow_online=True, namespace=NAMESPACE)
    template = "templates.classification.multi_class.relation.default"
    recipe["spec"]["taskList"] = {"taskRecipes": [{"card": {"name": "cards.wnli"}, "template": template}]}
    for job in [*jobs, chat, code, recipe]:
        job["apiVersion"] = f"{group}/{R.LMEVAL_VERSION}"
    return [*jobs, chat, code, recipe]


@pytest.mark.shared
@pytest.mark.parametrize("line", ARCHIVE_LINES)
def test_every_fixable_rules_plan_with_its_inferred_values_is_kept_by_the_lines_crd(
        kube: Kube, installed: dict[str, str], line: str) -> None:
    """Issue 19: doctor --fix never writes what the line's CRD refuses or prunes. The static patches are checked
    above; here each job-patch fixable rule is triggered on a job and planned as doctor --fix plans it (the
    values inferred from an InferenceService and the jobs next to it, online access and code execution
    permitted), and the corrected job comes back from a dry-run create exactly as sent. Every rule the line can
    fix by a job patch is exercised, except LME016 where the line's CRD types the template as the string it
    flags elsewhere (2.16): there the job is kept as written."""
    from lmeval_setup.fix import values as V
    from lmeval_setup.fix.engine import plan_job
    from lmeval_setup.rules.catalog import RULES, autofix_for
    from lmeval_setup.rules.spec import spec_findings
    from lmeval_setup.sandbox import jobs as J
    from lmeval_setup.sandbox.scenarios import inference_service

    if line not in installed:
        pytest.skip(f"the sources of {line} are not in ../shared/upstream")
    release = R.PROFILES[line].release
    isvc = inference_service(NAMESPACE)
    isvc["status"] = {"url": J.ENDPOINT}
    jobs = _triggering_jobs(_group(line))
    fixable = {rule.id for rule in RULES.values() if autofix_for(rule, release).kind == "job-patch"}
    patched: set[str] = set()
    for job in jobs:
        ctx = V.FixContext([isvc], [j for j in jobs if j is not job], online_permitted=True,
                           code_execution_permitted=True, release=release)
        plan = plan_job(job, spec_findings(job, release=release), ctx)
        steps = {step.rule_id for step in plan.steps if step.kind == "job-patch"}
        if not steps:
            continue
        patched |= steps
        created = kube.create(installed[line], plan.fixed, dry_run=True)
        assert _kept(plan.fixed["spec"], created["spec"]), (
            f"{line} {job['metadata']['name']} ({sorted(steps)}): {plan.fixed['spec']} came back as {created['spec']}")
    missed = fixable - patched
    if "LME016" in missed:  # this line requires the string template: nothing to fix, and the job is kept
        (recipe,) = [j for j in jobs if j["metadata"]["name"] == "recipe"]
        assert _kept(recipe["spec"], kube.create(installed[line], recipe, dry_run=True)["spec"])
        missed.discard("LME016")
    assert not missed, f"{line}: no triggering job exercised the fix of {sorted(missed)}"
