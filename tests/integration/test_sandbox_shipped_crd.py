"""A sandbox profile serves the LMEvalJob CRD its TrustyAI operator line ships, not the project's own.

So the apiserver answers a job as that release's cluster does: rhoai-2.16's CRD has `taskRecipes[].template`
as a string and no `chatTemplate`/`systemInstruction` (an object template is a 422, the unknown fields are
pruned, as on a 2.16 cluster, where the sandbox's own CRD accepted both); every RHOAI line refuses an unknown
`spec.model` at admission. The CRD comes from the line's build or ../shared/upstream (operator_build.shipped_crd);
without either the test skips naming what is missing.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lmeval_setup.kube.client import ApiError, Kube, resource_path
from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import jobs as J
from lmeval_setup.sandbox import operator_build as OB
from lmeval_setup.sandbox import profiles as P

pytestmark = pytest.mark.controlplane

NAMESPACE = "shipped-crd"


def _shipped_or_skip(profile: str) -> OB.ShippedCrd:
    shipped = OB.shipped_crd(profile)
    if shipped is None:
        pytest.skip(f"no shipped LMEvalJob CRD for {profile}: {OB.missing_crd_reason(profile)}")
    return shipped


def _job(name: str, **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(next(s for s in J.SEED_JOBS if s.should_succeed).for_namespace(NAMESPACE))
    body["metadata"] = {"name": name, "namespace": NAMESPACE}
    body["spec"].update(spec)
    return dict(body)


def _served_schema(kube: Kube) -> dict[str, Any]:
    crd = kube.get(f"{P.CRD_PATH}/{P.LMEVALJOB_CRD}")
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])


def test_profiles_install_the_lmevaljob_crd_their_line_ships(new_controlplane: Any) -> None:
    kube = Kube.connect(str(new_controlplane.kubeconfig))  # type: ignore[attr-defined]
    jobs = resource_path(R.LMEVAL_GROUP, R.LMEVAL_VERSION, "lmevaljobs", NAMESPACE)

    shipped = _shipped_or_skip("rhoai-2.16")
    P.install_profile(kube, "rhoai-2.16")
    P.ensure_namespace(kube, NAMESPACE)
    served = _served_schema(kube)
    assert served == shipped.body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    recipe = served["properties"]["taskList"]["properties"]["taskRecipes"]["items"]["properties"]
    assert recipe["template"]["type"] == "string"
    with pytest.raises(ApiError) as refused:  # the object form the sandbox's own CRD accepted
        kube.create(jobs, _job("object-template", taskList={"taskRecipes": [
            {"card": {"name": "cards.wnli"}, "template": {"name": "templates.classification.default"}}]}),
            dry_run=True)
    assert refused.value.status == 422 and "template" in str(refused.value)
    created = kube.create(jobs, _job("chat", chatTemplate={"enabled": True}, systemInstruction="be brief"),
                          dry_run=True)
    assert "chatTemplate" not in created["spec"] and "systemInstruction" not in created["spec"]  # pruned

    # Another line on the same apiserver: its CRD replaces 2.16's (server-side apply), model enum and all.
    shipped = _shipped_or_skip("rhoai-2.22")
    P.apply_crds(kube, [c for c in P.profile_crds(P.get_profile("rhoai-2.22")) if c["metadata"]["name"]
                        == P.LMEVALJOB_CRD])
    assert _served_schema(kube)["properties"]["chatTemplate"]
    with pytest.raises(ApiError) as refused:
        kube.create(jobs, _job("bad-model", model="vllm"), dry_run=True)
    assert refused.value.status == 422 and 'spec.model: Unsupported value: "vllm"' in str(refused.value)


def test_without_a_shipped_crd_the_profile_keeps_its_own_and_says_why(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    monkeypatch.setenv("LMEVAL_OPERATOR_DIR", str(tmp_path / "no-builds"))
    monkeypatch.setenv("LMEVAL_SHARED_DIR", str(tmp_path / "no-shared"))
    with caplog.at_level("WARNING", logger="lmeval_setup.sandbox.profiles"):
        crds = P.profile_crds(P.get_profile("rhoai-3.5"))
    own = next(c for c in crds if c["metadata"]["name"] == P.LMEVALJOB_CRD)
    assert "controller-gen.kubebuilder.io/version" not in (own["metadata"].get("annotations") or {})
    assert "the sandbox's own LMEvalJob CRD stands in for the shipped one" in caplog.text
    assert "rhoai-3.5.tar.gz" in caplog.text
