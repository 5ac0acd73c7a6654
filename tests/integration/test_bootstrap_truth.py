"""Bootstrap and revert say what they will do and do only that, through the role, on real apiservers.

- A dry run on a fresh 2.22 accounts for every change the real run makes: those it can dry-run, and
  by name and count those it cannot before TrustyAI is up (issue 16 item 6, issue 20 item 4).
- Revert checks every permission it needs before the first write: with partial rights it writes
  nothing and lists what is missing (issue 16 item 4).
(A label on the operator ConfigMap never restarts the operator: test_bootstrap_reliability's matrix.)
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bootstrap_support import sandbox
from testsupport import error_lines

from lmeval_setup.bootstrap.dryrun import step_of, summarise
from lmeval_setup.bootstrap.revert import RECORD_NAME
from lmeval_setup.bootstrap.runner import RunOptions, RunResult, run
from lmeval_setup.cli.bootstrap import as_text
from lmeval_setup.kube.client import Kube, resource_path
from lmeval_setup.platform import releases as R

pytestmark = pytest.mark.controlplane
CLI = [sys.executable, "-m", "lmeval_setup.cli.main"]
RBAC = "rbac.authorization.k8s.io"


def bootstrap(kubeconfig: str, **kw: Any) -> RunResult:
    return run(RunOptions("bootstrap", kubeconfig=kubeconfig, timeout=600, **kw))


def changed_by_step(result: RunResult) -> Counter[str]:
    return Counter(step_of(s.task) for s in result.clusters["cluster"].steps if s.status == "changed")


def versions(kube: Kube, namespace: str) -> dict[str, str]:
    """resourceVersion of every object bootstrap or revert may write."""
    out = {}
    for group, plural in (("", "configmaps"), ("apps", "deployments")):
        for obj in kube.list_items(resource_path(group, "v1", plural, namespace)):
            out[f"{plural}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    for dsc in kube.list_items(resource_path(R.DSC_GROUP, "v1", "datascienceclusters")):
        out[f"dsc/{dsc['metadata']['name']}"] = dsc["metadata"]["resourceVersion"]
    return out


def grant_all_but_dsc_writes(kube: Kube, user: str) -> None:
    """Read everything; write ConfigMaps and Deployments; may not patch the DataScienceCluster."""
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "patch", "update", "delete"]},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch", "update"]}]
    kube.create(resource_path(RBAC, "v1", "clusterroles"), {"metadata": {"name": user}, "rules": rules})
    kube.create(resource_path(RBAC, "v1", "clusterrolebindings"), {
        "metadata": {"name": user}, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": user}]})


def test_dry_run_on_fresh_2_22_tells_every_change_then_revert_preflights(new_controlplane: Any,
                                                                           tmp_path: Path) -> None:
    kubeconfig = str(new_controlplane.kubeconfig)
    with sandbox(new_controlplane, "rhoai-2.22", "fresh") as sb:
        before = versions(sb.kube, sb.namespace)
        dry = bootstrap(kubeconfig, dry_run=True)
        assert dry.exit_code == 0, dry.clusters
        assert versions(sb.kube, sb.namespace) == before, "the dry run wrote something"
        cluster = dry.clusters["cluster"]
        told = {s.step: s.would_change + s.cannot_predict for s in summarise(cluster.steps, cluster.plan)}
        unknown = sum(s.cannot_predict for s in summarise(cluster.steps, cluster.plan))
        text = as_text(dry)

        real = bootstrap(kubeconfig)
        assert real.exit_code == 0, real.clusters
        done = changed_by_step(real)
        assert sum(done.values()) == 7, done  # enable, annotation, data (each recorded first), restart
        assert {k: v for k, v in told.items() if v} == dict(done), text
        assert unknown == 5 and "cannot predict yet=5" in text, text
        assert "Enable TrustyAI: would change 2" in text, text

        # Revert with rights to the ConfigMap and the Deployment but not the DSC: nothing is restored.
        grant_all_but_dsc_writes(sb.kube, "partial")
        partial = new_controlplane.kubeconfig_for("partial", path=tmp_path / "partial.kubeconfig")
        bootstrapped = versions(sb.kube, sb.namespace)
        proc = subprocess.run([*CLI, "revert", "--kubeconfig", str(partial)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        [line] = error_lines(proc.stderr)
        assert "RBAC preflight failed" in line and "patch datascienceclusters" in line, line
        assert versions(sb.kube, sb.namespace) == bootstrapped, "a revert without rights restored some fields"
        assert sb.kube.get_or_none(resource_path("", "v1", "configmaps", sb.namespace, RECORD_NAME)) is not None
