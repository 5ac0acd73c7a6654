"""The suite's slowest modules start first under `make test` (issue 15 item 5).

`pytest -n 3 --dist loadfile` hands whole modules to the workers; by default xdist orders them by their
number of tests, which started the few-test, minutes-long modules (test_installed: 3 tests, ~7 min) last,
so one worker ran alone at the end. With --no-loadscope-reorder the modules go out in collection order,
where tests/conftest.py puts SLOWEST_MODULES first.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    SLOWEST_MODULES,
    SLOWEST_TESTS,
    SOAK_TESTS,
    SPREAD_MODULES,
    is_soak_test,
    module_rank,
    module_seconds,
    xdist_scope,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_listed_module_exists() -> None:
    """A renamed or split module would silently fall back to collection order."""
    assert [m for m in SLOWEST_MODULES if not (REPO / m).is_file()] == []
    assert len(set(SLOWEST_MODULES)) == len(SLOWEST_MODULES)
    for nodeid in SLOWEST_TESTS:  # a renamed test would silently go back to its module's place
        module, name = nodeid.split("::", 1)
        assert f"def {name.split('[', 1)[0]}(" in (REPO / module).read_text(), nodeid
        assert module in SPREAD_MODULES, f"{nodeid}: only a spread module's test is a unit of its own"


def test_the_slowest_tests_go_first_and_their_module_keeps_its_place() -> None:
    """A spread module's long test goes out before every listed module; its module's other tests do not."""
    slowest = SLOWEST_TESTS[0]
    module = slowest.split("::", 1)[0]
    first_module_test = f"{SLOWEST_MODULES[0]}::test_x"
    assert module_rank(f"{slowest}[a]") < module_rank(first_module_test)
    assert module_rank(slowest) == module_rank(f"{slowest}[b]")
    assert module_rank(f"{module}::test_other") == SLOWEST_MODULES.index(module) > module_rank(first_module_test)
    assert module_rank(f"{slowest}_too[a]") == SLOWEST_MODULES.index(module), "a prefix of a name is not the test"


def _pytest_args(target: str) -> list[str]:
    """The pytest command line of a Makefile target's recipe (continuation lines joined), or of the script
    the recipe runs (`bash tools/test.sh`)."""
    recipe = (REPO / "Makefile").read_text().split(f"\n{target}:", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    lines = recipe.splitlines()
    for script in re.findall(r"^\s*bash (tools/\S+\.sh)\s*$", recipe, re.M):
        lines += (REPO / script).read_text().replace("\\\n", " ").splitlines()
    return shlex.split(next(line for line in lines if " -m pytest " in line))


def test_make_test_hands_modules_out_in_collection_order() -> None:
    for target in ("test", "soak"):
        args = _pytest_args(target)
        assert "--no-loadscope-reorder" in args and args[args.index("--dist") + 1] == "loadfile", (target, args)


def test_make_test_leaves_the_soak_tier_to_make_soak_and_ci_runs_both() -> None:
    """`make test` (the README's command) runs every test not marked slow, the fuzz short; `make soak` the tests
    marked slow and the fuzz at 10,000 examples; .ci/run both, so CI still runs every assertion."""
    test, soak = _pytest_args("test"), _pytest_args("soak")

    def marks(args: list[str]) -> str:  # the -m of pytest's options, not of `python -m pytest`
        return args[args.index("-m", args.index("pytest")) + 1]

    assert marks(test) == "not slow" and "LMEVAL_SOAK=1" not in test, test
    assert marks(soak) == "slow or soak" and "LMEVAL_SOAK=1" in soak, soak
    steps = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert steps == ["make test", "make soak"], steps


def test_soak_tests_are_marked_slow_at_collection() -> None:
    """SOAK_TESTS (in modules owned elsewhere) get the slow mark before -m selects: `make test` leaves them out."""
    for nodeid in SOAK_TESTS:
        module, name = nodeid.split("::", 1)
        assert f"def {name.split('[', 1)[0]}(" in (REPO / module).read_text(), nodeid
        assert is_soak_test(nodeid) and not is_soak_test(f"{nodeid}_too")
        assert "[" in nodeid or is_soak_test(f"{nodeid}[a]"), "a whole test: each of its parameter sets"
    modules = sorted({nodeid.split("::", 1)[0] for nodeid in SOAK_TESTS})

    def collected(marks: str) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                               "-o", "addopts=", "-m", marks, *modules],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return re.findall(r"^(tests/\S+)$", done.stdout, re.M)

    kept, soak = collected("not slow"), collected("slow")
    assert kept and not [n for n in kept if is_soak_test(n)], kept
    for nodeid in SOAK_TESTS:  # every entry names collected tests (a renamed parameter set would match none)
        assert [n for n in soak if is_soak_test(n) and (n == nodeid or n.startswith(nodeid + "["))], nodeid


def test_collection_puts_the_slowest_modules_first() -> None:
    quick, slowest, second = "tests/unit/test_cli.py", SLOWEST_MODULES[0], SLOWEST_MODULES[1]
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", quick, second, slowest],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    modules = list(dict.fromkeys(m.group(1) for m in re.finditer(r"^(tests/\S+\.py)::", done.stdout, re.M)))
    assert modules == [slowest, second, quick]


def _report(nodeid: str, when: str, duration: float) -> pytest.TestReport:
    return pytest.TestReport(nodeid, (nodeid, 0, ""), {}, "passed", None, when, duration=duration)  # type: ignore[arg-type]


def test_module_seconds_add_up_setup_call_and_teardown_per_module() -> None:
    """What the run's summary prints, so that SLOWEST_MODULES can follow a full run's figures."""
    reports = [_report("tests/unit/a.py::t1", "setup", 30.0), _report("tests/unit/a.py::t1", "call", 1.0),
               _report("tests/unit/a.py::t2", "call", 2.0), _report("tests/unit/a.py::t2", "teardown", 0.5),
               _report("tests/integration/b.py::t[x]", "call", 40.0), object()]
    assert module_seconds(reports) == [("tests/integration/b.py", 40.0), ("tests/unit/a.py", 33.5)]


def test_spread_modules_hand_out_each_test_and_hold_no_module_fixture() -> None:
    """Their tests go to the workers one by one; a module-scoped fixture would then be set up on every worker."""
    spread, other = SPREAD_MODULES[0], "tests/unit/test_cli.py"
    assert xdist_scope(f"{spread}::test_a[x]") == f"{spread}::test_a[x]"
    assert xdist_scope(f"{other}::test_b") == other
    for module in SPREAD_MODULES:
        text = (REPO / module).read_text()
        assert not re.search(r"scope=[\"'](module|class|package)[\"']", text), module


def test_the_venv_install_byte_compiles() -> None:
    """CI and this machine set PYTHONDONTWRITEBYTECODE: a module pip installs without its bytecode is compiled
    from source in every process that imports it. `pip install --no-compile` made a fresh-clone `make test`
    use ~225 s more CPU (1,645 s against 1,419 s) than the install saved."""
    recipe = (REPO / "Makefile").read_text().split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    uncompiled = [line for line in installs if "--no-compile" in line]
    # The one exception: the `ansible` package alone (~100 collections never imported; kubernetes.core, the
    # one the role uses, is compiled by tools/compile_collections.py right after the install, and
    # test_compile_collections checks this venv's copy).
    assert installs and all("--no-deps" in line and "'^ansible=='" in line for line in uncompiled), uncompiled
    assert "tools/compile_collections.py" in recipe.split(installs[-1], 1)[1], recipe
