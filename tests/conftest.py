"""Shared fixtures: ../shared (fixtures and reference) and the real control plane.

Tests that need what is not here skip with the reason, never pass silently:
- `shared_dir` skips when ../shared is absent;
- `controlplane` skips when the Go-built binaries are missing (make controlplane builds them).
Set LMEVAL_REQUIRE_CONTROLPLANE=1 (CI does) to turn that skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from testsupport import require_controlplane_binaries

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LMEVAL_SHARED_DIR", REPO.parent / "shared"))

# The units that take longest, longest first (issue 15 item 5): seconds of setup + call + teardown in the
# fresh-clone run of 2026-12-06 14:13 UTC (2,128 s of pytest, 3 workers, at a load average of 20-26 from other
# work on the machine; a quiet run takes about half). `make test` runs `-n 3 --dist loadfile
# --no-loadscope-reorder`, which hands whole modules to the workers in collection order: longest first, the short
# modules fill the workers' ends evenly (xdist's default order, most tests first, started the few-test,
# minutes-long modules last, and one worker ran alone at the end). SPREAD_MODULES go last: each of their tests is a
# unit of its own, a filler like a short module; their few long tests are in SLOWEST_TESTS, which go out first.
# The soak tier (marked slow: not in `make test`, see SOAK_TESTS) is listed first too, for `make soak`.
SLOWEST_TESTS = (
    # make soak: 82 s and 46 s here (170 s and 64 s on a quieter run): a bootstrap interrupted at each step
    "tests/integration/test_bootstrap_reliability.py::test_apiserver_killed_at_each_step_then_rerun_converges",
    # make test: 240 s, its longest unit: the seed jobs, their doctor and fix flow on make demo's line
    "tests/integration/test_doctor_scenarios.py::test_broken_jobs_each_seed_mistake_reported_then_fixed_with_one_command"
    "[rhoai-2.22]",
)
SLOWEST_MODULES = (
    "tests/unit/test_lint_fuzz.py",  # make soak: 292 s at 10,000 examples (make test: ~10 s at 300)
    "tests/integration/test_installed.py",  # make soak: 185 s, a wheel installed into a fresh venv
    "tests/integration/test_bootstrap_molecule.py",  # make soak: 71 s
    "tests/unit/test_kustomize_differential.py",  # make soak: 3,000 cases, ~2 min of CPU (make test: 500, ~16 s)
    "tests/integration/test_bootstrap.py",  # 353 s
    "tests/integration/test_lmeval_live.py",  # 340 s: 50 real lm-eval runs, two at a time, in one fixture
    "tests/integration/test_doctor_fix.py",  # 253 s: one bootstrapped sandbox per profile
    # 274 s in the fresh-clone run of 498b624 (118 s before the kubelet held containers un-Ready for the probe's
    # initial delay and the lost-poll recovery): real-operator sandboxes
    "tests/integration/test_sandbox_real_operator.py",
    "tests/integration/test_secrets.py",  # 167 s
    "tests/integration/test_rbac_live.py",  # 150 s
    "tests/integration/test_provision_apiserver.py",  # 128 s
    "tests/integration/test_doctor_live.py",  # 125 s
    "tests/integration/test_bad_input.py",  # 100 s
    "tests/integration/test_bootstrap_exits.py",  # 96 s
    "tests/integration/test_sandbox_profiles.py",  # 90 s
    "tests/integration/test_provision_sandbox.py",  # 88 s
    "tests/integration/test_collection_connection.py",  # 76 s
    "tests/integration/test_doctor_kueue_live.py",  # 65 s
    "tests/integration/test_doctor_driver_live.py",  # 59 s
    "tests/integration/test_real_operator_pods.py",  # 55 s
    "tests/integration/test_sandbox_real_lmeval.py",  # 57 s
    "tests/integration/test_cli_outputs.py",  # 42 s
    "tests/unit/test_hostile_input.py",  # 40 s
    "tests/integration/test_bootstrap_reliability.py",  # 440 s in 10 units (make soak: 600 s more)
    "tests/integration/test_doctor_scenarios.py",  # 107 s in 6 units besides SLOWEST_TESTS' (make soak: 828 s)
    "tests/integration/test_sandbox_platform.py",  # 195 s in units of one test
)


# Modules whose tests share nothing but session fixtures (each test starts its own control plane): under
# `make test` each of their tests is a unit of its own, so that one module's minutes spread over the workers.
# test_bootstrap_reliability alone: 14 tests, 573 s of CPU (43 min at load 20); on one worker it set the suite's
# end. A module-scoped fixture here would be set up once per worker (test_suite_order refuses one).
SPREAD_MODULES = (
    "tests/integration/test_bootstrap_reliability.py",
    "tests/integration/test_doctor_scenarios.py",
    "tests/integration/test_sandbox_platform.py",
)


def xdist_scope(nodeid: str) -> str:
    """The unit xdist hands to one worker under --dist loadfile: the test's module, or in SPREAD_MODULES the test."""
    module = nodeid.split("::", 1)[0]
    return nodeid if module in SPREAD_MODULES else module


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's loadfile scheduling with xdist_scope's units (tryfirst: before xdist's own implementation)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SpreadScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return SpreadScheduling(config, log)  # type: ignore[arg-type]


def module_rank(nodeid: str) -> int:
    """Where a test goes in the run: SLOWEST_TESTS, then SLOWEST_MODULES in their order, then every other module."""
    for index, prefix in enumerate(SLOWEST_TESTS):
        if nodeid == prefix or nodeid.startswith((prefix + "[", prefix + "::")):
            return index - len(SLOWEST_TESTS)
    module = nodeid.split("::", 1)[0]
    return SLOWEST_MODULES.index(module) if module in SLOWEST_MODULES else len(SLOWEST_MODULES)


# The soak tier (issue 15 item 5): `make test` runs `-m "not slow"`, `make soak` the tests marked slow (and the
# lint fuzz at 10,000 examples), and `.ci/run` runs both. Most slow tests carry the mark in their module; these,
# in a module owned elsewhere, get it here (a whole test, or one parameter set): a bootstrap killed at each step
# of a chain, then re-run (128 s in the run above); the fleet of three releases (126 s); the bootstrap-twice
# matrix on the lines whose permission layer another line checks in `make test` (3.0 and 3.3 as 3.5; ODH 2.35
# and 3.5 as RHOAI 2.25 and 3.5, in another namespace): 300 s.
_MATRIX = "tests/integration/test_bootstrap_reliability.py::test_new_jobs_see_the_permissions_and_second_run_is_a_noop"
SOAK_TESTS = (
    "tests/integration/test_bootstrap_reliability.py::test_apiserver_killed_at_each_step_then_rerun_converges",
    "tests/integration/test_bootstrap_reliability.py::test_fleet_of_three_releases_in_parallel",
    *(f"{_MATRIX}[{line}]" for line in ("rhoai-3.0", "rhoai-3.3", "odh-2.35", "odh-3.5")),
)


def is_soak_test(nodeid: str) -> bool:
    return any(nodeid == test or nodeid.startswith(test + "[") for test in SOAK_TESTS)


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection, so that `-m "not slow"` sees the mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_soak_test(item.nodeid):
            item.add_marker(pytest.mark.slow)
    # A stable sort: each module's tests, and the modules not listed, keep their collection order.
    items.sort(key=lambda item: module_rank(item.nodeid))


def module_seconds(reports: Iterable[object]) -> list[tuple[str, float]]:
    """Each module's time, longest first: its tests' setup, call and teardown (its module fixtures included)."""
    totals: dict[str, float] = {}
    for report in reports:
        if isinstance(report, pytest.TestReport):
            module = report.nodeid.split("::", 1)[0]
            totals[module] = totals.get(module, 0.0) + report.duration
    return sorted(totals.items(), key=lambda item: -item[1])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The slowest modules of this run: what SLOWEST_MODULES should list, in this order, after a full run."""
    slowest = module_seconds(r for reports in terminalreporter.stats.values() for r in reports)[:20]
    if len(slowest) < 2:
        return
    terminalreporter.write_sep("=", "slowest modules (setup + call + teardown of their tests)")
    for module, seconds in slowest:
        unlisted = "" if module in SLOWEST_MODULES else "  (not in SLOWEST_MODULES)"
        terminalreporter.write_line(f"{seconds:8.1f}s {module}{unlisted}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"../shared not found at {SHARED} (fixtures and reference live there)")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures"


def _binaries_or_skip() -> Path:
    return require_controlplane_binaries()


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One real etcd + kube-apiserver + kube-controller-manager for the whole session."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    binaries = _binaries_or_skip()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), binaries, audit_log=True)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop(grace=0.0)  # throw-away: SIGKILL at once instead of waiting 3 s for a graceful exit


@pytest.fixture(scope="session")
def kube(controlplane: object) -> object:
    from lmeval_setup.kube.client import Kube

    return Kube.connect(str(controlplane.kubeconfig))  # type: ignore[attr-defined]


@pytest.fixture
def new_controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A control plane of the test's own (~3 s): for tests that install cluster-scoped CRDs or need
    a platform nobody else touches. Started without the audit log; stopped after the test."""
    from lmeval_setup.sandbox.controlplane import ControlPlane

    binaries = _binaries_or_skip()
    plane = ControlPlane(tmp_path_factory.mktemp("own-controlplane"), binaries)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop(grace=0.0)  # throw-away: SIGKILL at once instead of waiting 3 s for a graceful exit
