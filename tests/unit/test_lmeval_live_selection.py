"""tests/integration/test_lmeval_live.py runs only the cases whose tests were collected (`-k` runs one
quickly). Its selection read `item.module` of every item of the session, which only a pytest.Function has:
a session that also collects a doctest or another plugin's item (`--doctest-glob='*.md' README.md ...`)
failed the live fixture with AttributeError (mypy: "Item" has no attribute "module")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INTEGRATION = REPO / "tests" / "integration"


def _live_module() -> ModuleType:
    sys.path.insert(0, str(INTEGRATION))  # its `import realmanager_support`
    try:
        spec = importlib.util.spec_from_file_location("lmeval_live_under_test", INTEGRATION / "test_lmeval_live.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses resolve their annotations there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(INTEGRATION))


LIVE = _live_module()


class _NotAFunction:
    """An item of the session that is not a test function (DoctestItem, a YAML plugin's item): no .module."""

    name = "README.md::README"


@pytest.mark.parametrize("case", LIVE.CASES[:1], ids=lambda c: c.name)
def test_selection_skips_items_that_are_not_functions(case: Any, request: pytest.FixtureRequest) -> None:
    # This test's own item stands for a collected live case: its module is the one asking.
    asking = SimpleNamespace(session=SimpleNamespace(items=[_NotAFunction(), *request.session.items]),
                             module=request.module)
    assert [c.name for c in LIVE._selected_cases(asking)] == [case.name]
