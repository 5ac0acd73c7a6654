"""What a dry run tells, per step: the changes it checked, and those it cannot check yet.

A server-side dry run checks a write against the object as it is now. Before TrustyAI is up the
operator ConfigMap and Deployment do not exist, so the permission and restart writes the real run
will make cannot be dry-run: the plan marks them `predicted` (planned from the release's shipped
values). Counting only the checked ones made a fresh 2.22 say "would change=2" where the real run
changes 7. Here every step says what it would change and how many of its changes are still unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any, Protocol

JSON = dict[str, Any]
UNPREDICTABLE_WHY = "cannot be dry-run before TrustyAI is up (its ConfigMap and Deployment do not exist yet)"
# The restart step's repair (roles/bootstrap/tasks/restart.yml): it acts only when a platform reconcile that was
# already under way puts the values back, a race no dry run can see, so it is named rather than counted.
MAY_REPEAT = ("=> may repeat: if a platform reconcile already under way puts lmes-allow-* back during the restart, "
              "the real run sets them and restarts the operator once more (2 more changes)")


class StepLike(Protocol):
    task: str
    status: str


@dataclass(frozen=True)
class StepSummary:
    step: str
    would_change: int
    _: KW_ONLY
    cannot_predict: int
    actions: tuple[str, ...] = ()  # the predicted writes


def step_of(task: str) -> str:
    """'Permissions | set lmes-allow-*' -> 'Permissions' (the role names every task '<step> | <what>')."""
    return task.split(" | ", 1)[0].strip()


def summarise(steps: Iterable[StepLike], plan: JSON | None) -> list[StepSummary]:
    """Per step, in the order the run reached them: checked changes, then the predicted ones."""
    order: list[str] = []
    changed: dict[str, int] = {}
    for s in steps:
        name = step_of(s.task)
        if name not in order:
            order.append(name)
        changed[name] = changed.get(name, 0) + (s.status == "changed")
    predicted: dict[str, list[str]] = {}
    for op in (plan or {}).get("operations") or []:
        if op.get("predicted"):
            predicted.setdefault(str(op["step"]), []).append(str(op["action"]))
    order += [name for name in predicted if name not in order]
    return [StepSummary(name, changed.get(name, 0), cannot_predict=len(predicted.get(name, [])),
                        actions=tuple(predicted.get(name, [])))
            for name in order]


def cannot_predict(plan: JSON | None) -> int:
    return sum(1 for op in (plan or {}).get("operations") or [] if op.get("predicted"))


def dry_run_lines(steps: Iterable[StepLike], plan: JSON | None) -> list[str]:
    """The text output's per-step dry-run counts (issue 20 item 4): the steps that would change something
    or cannot be predicted yet. A step with nothing to tell is left out ("Detect: would change 0", or the
    argument-spec validation Ansible reports as a task of its own, were noise above the counts that matter)."""
    summary = [s for s in summarise(steps, plan) if s.would_change or s.cannot_predict]
    if not summary:
        return ["  dry run: nothing would change"]
    lines = ["  dry run by step:"]
    for s in summary:
        parts = []
        if s.would_change or not s.cannot_predict:
            parts.append(f"would change {s.would_change}")
        if s.cannot_predict:
            parts.append(f"{s.cannot_predict} more {'change' if s.cannot_predict == 1 else 'changes'} "
                         f"{UNPREDICTABLE_WHY}: {'; '.join(s.actions)}")
        lines.append(f"    {s.step}: {', '.join(parts)}")
    total = sum(s.cannot_predict for s in summary)
    if total:
        lines.append(f"  => cannot predict yet={total}: the real run plans these again once TrustyAI is up")
    if (plan or {}).get("configmap_data_patch") is not None:
        lines.append(f"  {MAY_REPEAT}")
    return lines
