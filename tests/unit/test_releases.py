"""The release table answers version questions consistently."""

from __future__ import annotations

import pytest

from lmeval_setup.platform.releases import PROFILES, RELEASES, parse_version, release_for


@pytest.mark.parametrize(
    ("platform", "version", "line", "layer"),
    [
        ("rhoai", "2.16.2", "rhoai-2.16", "configmap"),
        ("rhoai", "2.17.0", "rhoai-2.17", "configmap"),
        ("rhoai", "2.24.3", "rhoai-2.17", "configmap"),
        ("rhoai", "2.25.0", "rhoai-2.25", "dsc"),
        ("rhoai", "3.2.1", "rhoai-3.0", "dsc"),
        ("rhoai", "3.4.0", "rhoai-3.4", "dsc"),
        ("rhoai", "3.6.0-ea.2", "rhoai-3.5", "dsc"),
        ("odh", "2.34.0", "odh-2.22", "configmap"),
        ("odh", "2.35.0", "odh-2.35", "dsc"),
    ],
)
def test_release_lines(platform: str, version: str, line: str, layer: str) -> None:
    release = release_for(platform, parse_version(version))  # type: ignore[arg-type]
    assert release.key == line
    assert release.permission_layer == layer


def test_lm_eval_predates_216_is_an_error() -> None:
    with pytest.raises(ValueError, match="predates LM-Eval"):
        release_for("rhoai", (2, 15))


def test_facts_that_bite() -> None:
    legacy, component, dsc_era, v35 = (release_for("rhoai", v) for v in ((2, 16), (2, 22), (2, 25), (3, 5)))
    assert legacy.trustyai_condition == "trustyaiReady" and not legacy.honours_managed_annotation
    assert component.trustyai_condition == "TrustyAIReady" and component.honours_managed_annotation
    assert component.needs_restart_for_permissions and not dsc_era.needs_restart_for_permissions
    assert dsc_era.dsc_versions == ("v1",) and v35.dsc_versions == ("v1", "v2")
    assert v35.operator_pod_labels["control-plane"] == "trustyai-service-operator"
    assert component.operator_pod_labels["control-plane"] == "controller-manager"
    assert v35.kserve_missing_reason == "PreConditionFailed" and dsc_era.kserve_missing_reason == "Error"
    assert release_for("odh", (2, 35)).lmes_defaults["lmes-allow-online"] == "true"
    assert dsc_era.lmes_defaults["lmes-allow-online"] == "false"


def test_every_profile_resolves_and_rows_are_unique() -> None:
    assert len({r.key for r in RELEASES}) == len(RELEASES)
    for profile in PROFILES.values():
        assert profile.release.platform == profile.platform
