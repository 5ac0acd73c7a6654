"""LME106 on a must-gather (issue 16 leftover): what a gather can and cannot prove about the operator's restart.

`oc adm inspect` and must-gather leave managedFields out of every object, so the time of the last write
to a start-up key of trustyai-service-operator-config is not in a gather. The doctor warned "cannot tell"
(LME106, warning) on every gather of a healthy cluster whose operator pod carried no bootstrap stamp. Now
platform.operator_state (the one restart decision) marks that answer `unrecorded` and the doctor reports
it as info; what a gather does prove still warns (a manager that started before its ConfigMap was
created), a stamp that matches is silent, and with managedFields in the gather the times decide as live.
The gathers are written here in oc adm inspect's layout (one root in a must-gather.local.* directory,
a timestamp file, no lmeval-setup record), from the doctor's plain-dict cluster snapshots.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from doctor_support import NOW, cluster_snapshot, iso

from lmeval_setup.doctor.evaluate import evaluate
from lmeval_setup.doctor.layout import CLUSTER_DIR, NAMESPACES_DIR, group_dir
from lmeval_setup.doctor.offline import read_dir
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect
from lmeval_setup.platform.operator_state import LMES_HASH_ANNOTATION, Verdict, startup_config_hash, startup_config_of
from lmeval_setup.rules.finding import Finding

CHANGED = NOW - timedelta(hours=1)
UNMANAGED = {R.MANAGED_ANNOTATION: "false"}
BATCH = {"lmes-default-batch-size": "4"}


def write_gather(snap: Snapshot, root: Path, *, managed_fields: bool) -> Path:
    """The snapshot's objects as a must-gather: managedFields stripped as oc adm inspect strips them."""
    gather = root / "must-gather.local.4242"
    image = gather / "registry-redhat-io-rhoai-odh-must-gather-sha256-abc"
    for (group, plural, namespace, name), obj in snap.objects.items():
        if group == "apiextensions.k8s.io":
            continue  # the RHOAI gather collects no CRDs
        body: dict[str, Any] = yaml.safe_load(yaml.safe_dump(obj))
        if not managed_fields:
            body.get("metadata", {}).pop("managedFields", None)
        where = image / NAMESPACES_DIR / namespace if namespace else image / CLUSTER_DIR
        path = where / group_dir(group) / plural / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(body))
    (image / "timestamp").write_text("2026-11-28 12:00:00.000 +0000 UTC m=+0.1\n")
    return gather


def lme106(gather: Path) -> Finding | None:
    return next((f for f in evaluate(read_dir(gather)).findings if f.rule_id == "LME106"), None)


def test_a_healthy_clusters_gather_without_managed_fields_is_a_note_not_a_warning(tmp_path: Path) -> None:
    snap = cluster_snapshot()
    assert lme106(write_gather(snap, tmp_path / "with", managed_fields=True)) is None  # the times decide
    finding = lme106(write_gather(snap, tmp_path / "without", managed_fields=False))
    assert finding is not None and finding.severity == "info", finding
    assert "cannot be told from what was read" in finding.message
    assert any("no managedFields" in e.text for e in finding.evidence), finding.evidence
    # The same answer from the one decision: unrecorded, and bootstrap (live) would still restart on it.
    state = startup_config_of(detect(read_dir(tmp_path / "without" / "must-gather.local.4242")))
    assert state.verdict is Verdict.UNKNOWN and state.unrecorded and state.restart_needed


def test_a_stale_operator_still_warns_when_the_gather_has_the_times(tmp_path: Path) -> None:
    snap = cluster_snapshot(cm_data=BATCH, cm_annotations=UNMANAGED, cm_changed=CHANGED,
                            pod_started=CHANGED - timedelta(minutes=5))
    finding = lme106(write_gather(snap, tmp_path, managed_fields=True))
    assert finding is not None and finding.severity == "warning" and "started before" in finding.message


def test_the_same_second_on_the_clusters_own_times_still_warns(tmp_path: Path) -> None:
    snap = cluster_snapshot(cm_data=BATCH, cm_annotations=UNMANAGED, cm_changed=CHANGED, pod_started=CHANGED)
    finding = lme106(write_gather(snap, tmp_path, managed_fields=True))
    assert finding is not None and finding.severity == "warning" and "same second" in finding.message


def test_a_matching_stamp_proves_loaded_without_managed_fields(tmp_path: Path) -> None:
    snap = cluster_snapshot(cm_data=BATCH, cm_annotations=UNMANAGED, cm_changed=CHANGED,
                            pod_started=CHANGED - timedelta(minutes=5))
    config = next(o for (_, plural, _, name), o in snap.objects.items() if name == R.OPERATOR_CONFIGMAP)
    pod = next(o for (_, plural, _, _), o in snap.objects.items() if plural == "pods")
    pod["metadata"]["annotations"][LMES_HASH_ANNOTATION] = startup_config_hash(config, R.PROFILES["rhoai-2.22"].release)
    assert lme106(write_gather(snap, tmp_path, managed_fields=False)) is None


def test_a_manager_started_before_its_configmap_existed_is_stale_even_in_a_gather(tmp_path: Path) -> None:
    """The one staleness a gather proves: the ConfigMap was created after the manager read its configuration."""
    snap = cluster_snapshot()
    config = next(o for (_, plural, _, name), o in snap.objects.items() if name == R.OPERATOR_CONFIGMAP)
    config["metadata"]["creationTimestamp"] = iso(NOW - timedelta(minutes=10))
    pod = next(o for (_, plural, _, _), o in snap.objects.items() if plural == "pods")
    pod["status"]["startTime"] = iso(NOW - timedelta(hours=2))
    finding = lme106(write_gather(snap, tmp_path, managed_fields=False))
    assert finding is not None and finding.severity == "warning", finding
    assert any("before its ConfigMap was created" in e.text for e in finding.evidence), finding.evidence
