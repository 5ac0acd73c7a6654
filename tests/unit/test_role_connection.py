"""The role states its connection once (issue 13 item 1/2): the entry task files wrap everything in a block with
`module_defaults: group/lmeval.setup.k8s`, and no task passes kubeconfig/context (or any other connection
option) itself, so K8S_AUTH_* or the inventory's lmeval_kubeconfig reach every module alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible" / "collections" / "ansible_collections" / "lmeval" / "setup"
TASKS = COLLECTION / "roles" / "bootstrap" / "tasks"
CONNECTION = {"kubeconfig", "context", "host", "api_key", "validate_certs", "verify_ssl", "ca_cert", "client_cert",
              "client_key", "proxy", "impersonate_user"}


def tasks_in(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        for key in ("block", "rescue", "always"):
            yield from tasks_in(item.get(key) or [])


def test_no_task_names_its_own_connection() -> None:
    for path in TASKS.glob("*.yml"):
        for task in tasks_in(yaml.safe_load(path.read_text()) or []):
            for module, args in task.items():
                if module.startswith(("lmeval.setup.", "kubernetes.core.")) and isinstance(args, dict):
                    named = CONNECTION & set(args)
                    assert not named, f"{path.name}: {task.get('name')} passes {named}"


def test_the_entry_points_state_it_once_for_the_group() -> None:
    for name in ("main.yml", "revert.yml"):
        (outer,) = yaml.safe_load((TASKS / name).read_text())
        defaults = outer["module_defaults"]["group/lmeval.setup.k8s"]
        assert set(defaults) == {"kubeconfig", "context"}, name
        assert outer["block"], name
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    group = runtime["action_groups"]["k8s"]
    assert {"metadata": {"extend_group": ["kubernetes.core.k8s"]}} in group
    modules = {p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py")}
    listed = {m for m in group if isinstance(m, str)}
    assert modules <= listed, modules - listed
