"""Facts about the product's release table, checked against the pods the REAL TrustyAI manager builds.

For every profile, the manager of the line the sandbox runs for it (operator_build.find) is given the same
job and its pod is read (realmanager_support.py: a throw-away control plane, no kubelet). What the release row
(platform/releases.py) says the controller does must be what that pod shows. A profile whose line is not built
skips, naming why (the simulated operator is then only the sandbox's fallback: README, fidelity).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import realmanager_support as RM

from lmeval_setup.platform import releases as R
from lmeval_setup.sandbox import operator_build as OB

pytestmark = pytest.mark.controlplane

# Code execution asked for (and permitted by the ConfigMap); the user also sets HF_ALLOW_CODE_EVAL in the job.
CODER: dict[str, Any] = {
    "model": "local-completions",
    "modelArgs": [{"name": "model", "value": "granite"},
                  {"name": "base_url", "value": "http://granite:8080/v1/completions"}],
    "taskList": {"taskNames": ["humaneval"]},
    "allowOnline": False,
    "allowCodeExecution": True,
    "pod": {"container": {"env": [{"name": "HF_ALLOW_CODE_EVAL", "value": "1"}]}},
}


def _line_of(profile: str) -> str | None:
    build = OB.find(profile)
    return build.line if build is not None and not RM.missing_for_line(build.line) else None


@pytest.fixture(scope="module")
def coder_pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """line -> the pod its real manager builds for CODER, for every line some profile runs on."""
    lines = sorted({line for line in map(_line_of, R.PROFILES) if line})
    if not lines:
        pytest.skip(f"no TrustyAI manager is built: {OB.BUILD_HINT}")
    pods: dict[str, dict[str, Any]] = {}
    with RM.real_managers(tmp_path_factory.mktemp("real-operator-pods")) as managers:
        for line in lines:
            build = OB.build_for_line(line)
            assert build is not None
            job = f"coder-{line.replace('.', '-')}"
            pods[line] = managers.pods(build, {job: CODER})[job]
    yield pods


@pytest.mark.parametrize("profile", list(R.PROFILES))
def test_unsafe_code_flags_in_the_real_pod_are_the_release_rows(profile: str,
                                                                 coder_pods: dict[str, dict[str, Any]]) -> None:
    """--confirm_run_unsafe_code only where Release.unsafe_code_flags says (2.25 on); HF_ALLOW_CODE_EVAL=1 once:
    set by the controller from 2.25 (the user's copy dropped), before only the user's own value passes through."""
    line = _line_of(profile)
    if line is None:
        pytest.skip(f"the TrustyAI manager for {profile} ({' or '.join(OB.lines_for_profile(profile))}) cannot run "
                    f"here: {OB.BUILD_HINT}")
    main = RM.main_container(coder_pods[line])
    words = " ".join(str(a) for a in main.get("args") or []).split()  # v1.38.0 passes one `sh -ec` string
    env = [(e["name"], e.get("value")) for e in main.get("env") or []]
    release = R.PROFILES[profile].release
    assert ("--confirm_run_unsafe_code" in words) == release.unsafe_code_flags, (line, main["args"])
    assert env.count(("HF_ALLOW_CODE_EVAL", "1")) == 1, (line, env)
