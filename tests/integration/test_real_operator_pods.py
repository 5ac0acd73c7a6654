"""Facts about the product's release table, checked against the pods the REAL TrustyAI manager builds.

For every profile, the manager of the line the sandbox runs for it (operator_build.find) is given the same
job and its pod is read (realmanager_support.py: a throw-away control plane, no kubelet). What the release row
(platform/releases.py) says the controller does must be what that pod shows. A profile whose line is not built
skips, naming why (the simulated operator is then only the sandbox's fallback: README, fidelity).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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


# Specs the shipped CRDs admit and the controller refuses (ValidateUserInput), with its exact message.
INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "empty-base-url": ({"model": "local-completions", "modelArgs": [{"name": "base_url", "value": ""}],
                        "taskList": {"taskNames": ["arc_easy"]}},
                       "Input validation failed: invalid model arguments: model argument[0] value: argument value "
                       "contains invalid characters (only alphanumeric, ., _, /, :, -, and spaces allowed)"),
    # (limit "ten" never reaches it: every shipped CRD's spec.limit pattern refuses it at admission.)
}


@dataclass
class Observed:
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # line -> its pod for CODER
    statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # line -> INVALID name -> status


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """What each line some profile runs on does with CODER and the INVALID specs, one manager at a time."""
    lines = sorted({line for line in map(_line_of, R.PROFILES) if line})
    if not lines:
        pytest.skip(f"no TrustyAI manager is built: {OB.BUILD_HINT}")
    seen = Observed()
    with RM.real_managers(tmp_path_factory.mktemp("real-operator-pods")) as managers:
        for line in lines:
            build = OB.build_for_line(line)
            assert build is not None
            suffix = line.replace(".", "-")
            seen.pods[line] = managers.pods(build, {f"coder-{suffix}": CODER})[f"coder-{suffix}"]
            done = managers.completed(build, {f"{name}-{suffix}": spec for name, (spec, _) in INVALID.items()})
            seen.statuses[line] = {name: done[f"{name}-{suffix}"] for name in INVALID}
    yield seen


@pytest.fixture(scope="module")
def coder_pods(observed: Observed) -> dict[str, dict[str, Any]]:
    return observed.pods


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


@pytest.mark.parametrize("case", list(INVALID))
@pytest.mark.parametrize("profile", list(R.PROFILES))
def test_input_validation_is_the_real_controllers(profile: str, case: str, observed: Observed) -> None:
    """A spec the CRD admits and ValidateUserInput refuses: Complete/Failed with the controller's own message
    (the message the doctor quotes for such a job), and no pod."""
    line = _line_of(profile)
    if line is None:
        pytest.skip(f"the TrustyAI manager for {profile} cannot run here: {OB.BUILD_HINT}")
    status = observed.statuses[line][case]
    assert (status.get("reason"), status.get("message")) == ("Failed", INVALID[case][1]), (line, status)
    assert not status.get("podName"), (line, status)
