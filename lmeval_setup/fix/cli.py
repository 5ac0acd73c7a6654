"""doctor --fix as a command: plan, (with apply) preflight + bootstrap + corrected jobs, (with wait) verdicts.

Exit codes: 0 everything at or above --fail-on has an automatic fix (dry run) / the fixes were applied
(--yes) / every corrected job succeeded (--wait); 1 something needs a manual step, or a corrected job still
failed, or bootstrap failed; 4 the identity may not write what the plan needs (the plan is still printed);
5 --wait timed out.
"""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from lmeval_setup.cli.verbosity import note
from lmeval_setup.errors import ExitCode
from lmeval_setup.fix import remediate as F
from lmeval_setup.fix.render import plan_document, plan_text


def doctor_fix(snapshot: Any, result: Any, *, output: str, fail_on: str, apply: bool, replace: bool, wait: bool,
               wait_timeout: float, kubeconfig: str | None, context: str | None) -> int:
    from lmeval_setup.cli.common import connect

    kube = connect(kubeconfig, context)
    try:
        run = F.plan_fixes(kube, snapshot, result, fail_on=fail_on, replace=replace)  # type: ignore[arg-type]
        if not apply:
            _show(run, output, applying=False, waited=False)
            if run.needs_bootstrap and output == "text":
                note("note: the cluster plan, as bootstrap --dry-run --diff shows it:")
                F.run_bootstrap(run, kubeconfig, context, dry_run=True)
            return int(ExitCode.OK if not run.manual_left else ExitCode.FINDINGS)
        missing = F.preflight(kube, run, replace=replace)
        if missing:
            _show(run, output, applying=False, waited=False)
            click.echo("error: not permitted to apply the fix: missing " + "; ".join(missing), err=True)
            return int(ExitCode.PREREQUISITE)
        if run.needs_bootstrap:
            rc = F.run_bootstrap(run, kubeconfig, context, dry_run=False)
            if rc != 0:
                _show(run, output, applying=True, waited=False)
                click.echo(f"error: bootstrap (the cluster-level fix) failed with exit {rc}; no job was created",
                           err=True)
                return rc
        F.create_fixed_jobs(kube, run, replace=replace, say=note)
        if wait:
            F.wait_for_jobs(kube, run, wait_timeout, say=note)
        _show(run, output, applying=True, waited=wait)
        return int(ExitCode.OK if F.run_succeeded(run, wait) else ExitCode.FINDINGS)
    finally:
        kube.close()


def _show(run: F.FixRun, output: str, *, applying: bool, waited: bool) -> None:
    if output == "text":
        click.echo(plan_text(run, applying=applying, waited=waited), nl=False)
        return
    document = plan_document(run, applying=applying, waited=waited)
    if output == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=False))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False), nl=False)
