"""A no-op bootstrap answered without starting Ansible (issue 15 item 4).

The role's first module, lmeval_facts, reads the cluster and plans (`read_and_plan` below, which it calls).
When that plan proves the run would write nothing, restart nothing and wait for nothing, every later task
of the role is skipped and the run's whole output follows from the plan: the CLI then reports it from
the same read, in the same shape (steps, stats, facts, exit code) as ansible-runner's no-op run, and
saves Ansible's start-up (~1 s). Anything else, however small (a patch, a restart or an unfinished rollout,
a blocker, a wait, a warning, a mismatch the report would fail on), goes through the role: Ansible stays
the only path that writes.

Which tasks ran is read from the role itself (its task files in order, `import_tasks` and blocks
followed): in a no-op run a task runs when it has no `when` (or only `not ansible_check_mode`: this is
never a dry run) and no loop. tests/integration/test_bootstrap_noop.py proves the answer equal to the
real run's on a bootstrapped sandbox, and that a pending change still runs the role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lmeval_setup.bootstrap.plan import Desired, make_plan
from lmeval_setup.kube.client import Kube
from lmeval_setup.platform import releases as R

JSON = dict[str, Any]
ROLE_PATH = Path("ansible/collections/ansible_collections/lmeval/setup/roles/bootstrap")
# The role's defaults (roles/bootstrap/defaults/main.yml) for what the CLI does not pass.
DEFAULT_REVERT_CONFIGMAP = "lmeval-setup-revert"
# The one `when` that holds in every real (not --check) run.
_REAL_RUN_WHEN = "not ansible_check_mode"
# A task name's template as the role writes them: `{{ lmeval_facts.<key> }}` (Ansible renders it from the facts).
_FACT_IN_NAME = re.compile(r"\{\{\s*lmeval_facts\.(\w+)\s*\}\}")
# Seconds per request of the no-op read: a cluster that does not answer within this is the role's to report
# (with --request-timeout), not a second wait of the same length before it.
NOOP_REQUEST_TIMEOUT = 5.0
# detect()'s widest round of reads.
READ_WORKERS = 4


# -- the read and the plan (lmeval_facts returns exactly this) ---------------------------------------------
def read_and_plan(kube: Kube, desired: Desired, revert_configmap: str = DEFAULT_REVERT_CONFIGMAP) -> tuple[JSON, JSON]:
    """(facts, plan) as lmeval_facts returns them: ClusterFacts.as_dict() plus what lets the role skip its
    waits and its restart task (dsc_generation, trustyai_ready, dsc_config_current, restart_settled)."""
    from lmeval_setup.bootstrap.wait import trustyai_state
    from lmeval_setup.kube.source import KubeSource
    from lmeval_setup.platform.detect import detect

    with KubeSource(kube, workers=READ_WORKERS) as source:
        facts = detect(source)
    plan = make_plan(facts, desired, revert_configmap)
    settled = restart_settled(kube, facts)
    summary = facts.as_dict()
    summary["dsc_generation"] = facts.dsc.get("metadata", {}).get("generation")
    # Lets the role skip the wait (one module run) when TrustyAI is already ready; a KServe failure
    # is left to lmeval_wait, which reports it with its reason.
    try:
        summary["trustyai_ready"] = trustyai_state(facts.dsc, facts.release, facts.operator.deployment)[0]
    except Exception:
        summary["trustyai_ready"] = False
    # The same comparison lmeval_wait for=dsc_config polls on: true means that wait has nothing to wait for.
    wanted = {R.DSC_CM_ONLINE: str(desired.online).lower(), R.DSC_CM_CODE: str(desired.code_execution).lower()}
    dsc_config = (facts.dsc_config or {}).get("data") or {}
    summary["dsc_config_current"] = all(dsc_config.get(k) == v for k, v in wanted.items())
    summary["restart_settled"] = settled
    return summary, plan.as_dict()


def restart_settled(kube: Kube, facts: Any) -> bool:
    """The restart decision and rollout check lmeval_restart makes, from this read: lets a no-op run skip it."""
    from lmeval_setup.bootstrap.restart import rollout_readiness
    from lmeval_setup.platform.operator_state import startup_config_of

    deployment = facts.operator.deployment
    if deployment is None:
        return False
    if startup_config_of(facts).restart_needed:
        return False
    return bool(rollout_readiness(kube, deployment, facts.applications_namespace).rolled_out)


# -- is it a no-op? ----------------------------------------------------------------------------------------
def is_noop(facts: JSON, plan: JSON, desired: Desired) -> bool:
    """Every task after Detect would be skipped (the role's `when`s, read from this plan), and the report's
    assertion would pass."""
    patches = (plan.get("enable_trustyai") or plan.get("dsc_eval_patch") is not None
               or plan.get("configmap_annotation_patch") is not None or plan.get("configmap_data_patch") is not None)
    return bool(
        not patches and facts.get("restart_settled")  # __lmeval_noop: no preflight, no restart task
        and not plan.get("blockers") and not plan.get("warnings")
        and facts.get("trustyai_ready")  # no wait for TrustyAI
        and facts.get("operator_configmap_present") and facts.get("operator_deployment") is not None
        and facts.get("operator_available")  # no re-read
        and (facts.get("permission_layer") != "dsc" or facts.get("dsc_config_current"))  # no dsc-config wait
        and facts.get("effective_online") is desired.online
        and facts.get("effective_code_execution") is desired.code_execution
    )


# -- the role's tasks ---------------------------------------------------------------------------------------
def role_dir(project: Path) -> Path:
    return project / ROLE_PATH


class UnknownTemplate(ValueError):
    """A task name templated with something other than a detected fact: only Ansible can render it."""


def noop_steps(role: Path, facts: JSON) -> list[tuple[str, str]]:
    """(task name, status) of every task of a no-op real run, in order, as ansible-runner reports them."""
    import yaml

    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    short = spec["argument_specs"]["main"]["short_description"]
    steps = [(f"Validating arguments against arg spec 'main' - {short}", "ok")]
    for task in _tasks(role / "tasks", "main.yml"):
        steps.append((task_name(str(task["name"]), facts), "ok" if _runs_in_a_noop(task) else "skipped"))
    return steps


def task_name(template: str, facts: JSON) -> str:
    """The name as Ansible shows it: `{{ lmeval_facts.key }}` rendered from the facts."""
    name = _FACT_IN_NAME.sub(lambda m: str(facts[m.group(1)]), template)
    if "{{" in name or "{%" in name:
        raise UnknownTemplate(template)
    return name


def _tasks(tasks_dir: Path, file: str) -> Iterator[JSON]:
    import yaml

    for item in yaml.safe_load((tasks_dir / file).read_text()) or []:
        yield from _expand(tasks_dir, item)


def _expand(tasks_dir: Path, item: JSON) -> Iterator[JSON]:
    imported = item.get("ansible.builtin.import_tasks") or item.get("import_tasks")
    if imported:
        yield from _tasks(tasks_dir, str(imported))
    elif "block" in item:
        for inner in item["block"]:
            yield from _expand(tasks_dir, inner)
    else:
        yield item


def _runs_in_a_noop(task: JSON) -> bool:
    when = task.get("when")
    return (when is None or str(when).strip() == _REAL_RUN_WHEN) and "loop" not in task


def _capped(request_timeout: float | None) -> float:
    """--request-timeout, at most NOOP_REQUEST_TIMEOUT (0 or unset: the cap)."""
    return min(request_timeout, NOOP_REQUEST_TIMEOUT) if request_timeout else NOOP_REQUEST_TIMEOUT


# -- the answer ---------------------------------------------------------------------------------------------
def answer(opts: Any, progress: Callable[[str], None] | None = None) -> Any:
    """The RunResult of this bootstrap when it is a no-op that needs no Ansible, else None (run the role).

    Only a plain single-cluster run qualifies: no inventory (host variables are Ansible's), no dry run, no
    -v (it asks for Ansible's own output). It reads the cluster the role's modules would: K8S_AUTH_* with
    --kubeconfig/--context as their options (k8s_auth.connect_cli, the modules' resolution)."""
    from lmeval_setup.bootstrap.k8s_auth import connect_cli
    from lmeval_setup.bootstrap.runner import ClusterResult, RunResult, Step, project_dir

    if opts.playbook != "bootstrap" or opts.inventory or opts.dry_run or opts.verbosity:
        return None
    desired = Desired(True if opts.allow_online is None else opts.allow_online,
                      True if opts.allow_code_execution is None else opts.allow_code_execution)
    try:
        kube = connect_cli(opts.kubeconfig, opts.context, _capped(opts.request_timeout))
        try:
            facts, plan = read_and_plan(kube, desired)
        finally:
            kube.close()
    except Exception:  # any failure is the role's to report, with its reason and exit code
        return None
    if not is_noop(facts, plan, desired):
        return None
    host = opts.context or "cluster"  # runner.single_cluster_inventory's one host
    cluster = ClusterResult(host, facts=facts, plan=plan)
    try:
        steps = noop_steps(role_dir(project_dir()), facts)
    except (UnknownTemplate, KeyError, OSError):  # a role this code cannot read the same way: run it
        return None
    for task, status in steps:
        cluster.steps.append(Step(host, task, status=status))
        if progress and status != "skipped":
            progress(f"[{host}] {status:<9} {task}")
    return RunResult("bootstrap", False, status="successful", rc=0, clusters={host: cluster})
