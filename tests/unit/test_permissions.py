"""Effective LM-Eval permissions as each release's TrustyAI controller computes them (detect.py).

The rules (cited from the sources in detect.lmes_permission and pinned per line by test_operator_sources.py):
- lmes-allow-* values follow Go's strconv.ParseBool, untrimmed; an unparsable value is true on the lines that
  read permissions at start (2.16-2.24) and false on the lines that read them per job (2.25+);
- from 2.25, an existing trustyai-dsc-config replaces both permissions, a missing or unparsable key being false.
"""

from __future__ import annotations

import pytest
from doctor_support import cluster_snapshot

from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect, go_parse_bool
from lmeval_setup.platform.permissions import Permissions

START_UP_PROFILES = [n for n, p in R.PROFILES.items() if not p.release.permissions_read_per_job]
PER_JOB_PROFILES = [n for n, p in R.PROFILES.items() if p.release.permissions_read_per_job]


def _facts(profile: str, cm: dict[str, str], dsc_config: dict[str, str] | None = None) -> Permissions:
    snap = cluster_snapshot(profile, cm_data=cm)
    ns = R.PROFILES[profile].release.default_applications_namespace
    if dsc_config is not None:
        snap.add("", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": R.DSC_CONFIGMAP, "namespace": ns}, "data": dsc_config})
    else:
        snap.objects.pop(("", "configmaps", ns, R.DSC_CONFIGMAP), None)
        snap.absent.add(("", "configmaps", ns, R.DSC_CONFIGMAP))
    return detect(snap).effective_permissions


@pytest.mark.parametrize(("text", "expected"), [
    ("1", True), ("t", True), ("T", True), ("TRUE", True), ("true", True), ("True", True),
    ("0", False), ("f", False), ("F", False), ("FALSE", False), ("false", False), ("False", False),
    ("yes", None), ("on", None), ("tRuE", None), (" true", None), ("", None), (None, None),
])
def test_go_parse_bool_accepts_exactly_what_strconv_does(text: str | None, expected: bool | None) -> None:
    assert go_parse_bool(text) is expected


@pytest.mark.parametrize("profile", START_UP_PROFILES)
@pytest.mark.parametrize(("value", "granted"), [("yes", True), (" true", True), ("1", True), ("T", True),
                                                 ("0", False), ("False", False)])
def test_startup_lines_read_lmes_booleans_like_constructOptionsFromConfigMap(profile: str, value: str,
                                                                              granted: bool) -> None:
    """'yes' gives TRUST_REMOTE_CODE=1 there: the unparsable value becomes DefaultDetectDevice (true)."""
    cm = {R.CM_ALLOW_ONLINE: value, R.CM_ALLOW_CODE: value}
    assert _facts(profile, cm) == Permissions(granted, granted)


@pytest.mark.parametrize("profile", PER_JOB_PROFILES)
@pytest.mark.parametrize(("value", "granted"), [("yes", False), (" true", False), ("1", True), ("T", True),
                                                 ("tRuE", False), ("false", False)])
def test_per_job_lines_read_lmes_booleans_like_ReadEffectivePermissions(profile: str, value: str,
                                                                         granted: bool) -> None:
    cm = {R.CM_ALLOW_ONLINE: value, R.CM_ALLOW_CODE: value}
    assert _facts(profile, cm, dsc_config=None) == Permissions(granted, granted)


@pytest.mark.parametrize("profile", PER_JOB_PROFILES)
def test_dsc_config_replaces_both_permissions_a_missing_key_is_false(profile: str) -> None:
    granted = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}
    assert _facts(profile, granted, {R.DSC_CM_ONLINE: "true"}) == Permissions(True, False)
    assert _facts(profile, granted, {R.DSC_CM_CODE: "true"}) == Permissions(False, True)
    assert _facts(profile, granted, {}) == Permissions(False, False)


@pytest.mark.parametrize("profile", PER_JOB_PROFILES)
def test_dsc_config_values_follow_parse_bool_unparsable_is_false(profile: str) -> None:
    granted = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}
    assert _facts(profile, granted, {R.DSC_CM_ONLINE: "True", R.DSC_CM_CODE: "1"}) == Permissions(True, True)
    assert _facts(profile, granted, {R.DSC_CM_ONLINE: "allow", R.DSC_CM_CODE: "yes"}) == Permissions(False, False)


@pytest.mark.parametrize("profile", START_UP_PROFILES)
def test_startup_lines_never_read_trustyai_dsc_config(profile: str) -> None:
    cm = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "false"}
    assert _facts(profile, cm, {R.DSC_CM_ONLINE: "false", R.DSC_CM_CODE: "true"}) == Permissions(True, False)
