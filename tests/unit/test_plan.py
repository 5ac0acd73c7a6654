"""The plan: the managed annotation (issue 16 item 3), the access preflight checks derived from the planned
writes (item 4), and dry-run counts that include what cannot be checked yet (item 6, issue 20 item 4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from doctor_support import NOW, cluster_snapshot

from lmeval_setup.bootstrap.dryrun import MAY_REPEAT, dry_run_lines, summarise
from lmeval_setup.bootstrap.plan import Desired, Plan, make_plan
from lmeval_setup.doctor.snapshot import Snapshot
from lmeval_setup.kube.access import Access
from lmeval_setup.platform import releases as R
from lmeval_setup.platform.detect import detect

OPEN = {R.CM_ALLOW_ONLINE: "true", R.CM_ALLOW_CODE: "true"}
NS = "redhat-ods-applications"


def plan_for(snap: Snapshot, desired: Desired | None = None) -> Plan:
    return make_plan(detect(snap), desired or Desired(), "lmeval-setup-revert")


def fresh(profile: str = "rhoai-2.22") -> Snapshot:
    """TrustyAI Removed: the platform has not created the operator ConfigMap and Deployment yet."""
    snap = cluster_snapshot(profile, trustyai="Removed")
    for key in [k for k in snap.objects if k[1] in ("configmaps", "deployments", "pods")]:
        del snap.objects[key]
        snap._index[(key[0], key[1])][key[2]].discard(key[3])
    return snap


# -- item 3: the managed annotation ----------------------------------------------------------------------------
def test_annotates_when_the_configmap_already_holds_non_default_values() -> None:
    """Unannotated, the platform puts the defaults back on its next reconcile (LME104), data change or not."""
    plan = plan_for(cluster_snapshot(cm_data=OPEN, pod_started=NOW))
    assert plan.configmap_data_patch is None
    assert plan.configmap_annotation_patch == {"metadata": {"annotations": {R.MANAGED_ANNOTATION: "false"}}}


def test_no_annotation_for_the_release_defaults_or_when_annotated_or_on_2_16() -> None:
    assert plan_for(cluster_snapshot(), Desired(False, False)).configmap_annotation_patch is None
    annotated = cluster_snapshot(cm_data=OPEN, cm_annotations={R.MANAGED_ANNOTATION: "false"})
    assert plan_for(annotated).configmap_annotation_patch is None
    assert plan_for(cluster_snapshot("rhoai-2.16", cm_data=OPEN)).configmap_annotation_patch is None


# -- item 4: preflight asks for what the planned writes need -----------------------------------------------------
def test_a_planned_restart_brings_its_access_into_the_preflight() -> None:
    """The running pod predates the ConfigMap edit: the restart patches the Deployment, lists ReplicaSets
    and records the stamp for revert; the preflight used to omit all three here."""
    snap = cluster_snapshot(cm_data=OPEN, cm_annotations={R.MANAGED_ANNOTATION: "false"},
                            cm_changed=NOW - timedelta(minutes=1), pod_started=NOW - timedelta(hours=1))
    plan = plan_for(snap)
    assert plan.restart_possible and not plan.configmap_data_patch
    required = set(plan.required_access)
    assert Access("patch", "apps", resource="deployments", namespace=NS, name=R.OPERATOR_DEPLOYMENT) in required
    assert Access("list", "apps", resource="replicasets", namespace=NS) in required
    assert Access("create", "", resource="configmaps", namespace=NS) in required


def test_required_access_is_the_reads_plus_every_planned_write() -> None:
    plan = plan_for(fresh())
    for op in plan.operations:
        assert set(op.access) <= set(plan.required_access), op
    nothing = plan_for(cluster_snapshot(cm_data=OPEN, cm_annotations={R.MANAGED_ANNOTATION: "false"},
                                        pod_started=NOW))
    assert nothing.operations == [] and not nothing.writes
    assert {a.verb for a in nothing.required_access} <= {"get", "list"}


# -- item 6 / issue 20 item 4: a dry run counts what it cannot check ----------------------------------------------
@dataclass
class Step:
    task: str
    status: str


def test_fresh_2_22_plans_every_change_the_real_run_makes() -> None:
    """The real run on a fresh 2.22 changes 7 things: enable (record + patch), annotation and data
    (record + patch each), restart. The 5 after enabling cannot be dry-run: the ConfigMap does not exist."""
    plan = plan_for(fresh())
    assert [(o.step, o.predicted) for o in plan.operations] == [
        ("Enable TrustyAI", False), ("Enable TrustyAI", False),
        ("Permissions", True), ("Permissions", True), ("Permissions", True), ("Permissions", True),
        ("Restart", True)]
    steps = [Step("Detect | read", "ok"), Step("Enable TrustyAI | remember", "changed"),
             Step("Enable TrustyAI | set", "changed"), Step("Permissions | remember", "ok"),
             Step("Permissions | set", "ok"), Step("Restart | restart", "ok")]
    by_step = {s.step: (s.would_change, s.cannot_predict) for s in summarise(steps, plan.as_dict())}
    assert by_step == {"Detect": (0, 0), "Enable TrustyAI": (2, 0), "Permissions": (0, 4), "Restart": (0, 1)}
    text = "\n".join(dry_run_lines(steps, plan.as_dict()))
    assert "Enable TrustyAI: would change 2" in text
    assert "Permissions: 4 more changes cannot be dry-run before TrustyAI is up" in text
    assert "cannot predict yet=5" in text
    assert "Detect:" not in text  # a step with nothing to tell is not listed
    assert text.endswith("  " + MAY_REPEAT)  # the restart step's repair, which only a platform race sets off
    nothing = [Step("Detect | read", "ok"), Step("Permissions | set", "ok")]
    assert dry_run_lines(nothing, {"operations": []}) == ["  dry run: nothing would change"]


def test_on_the_dsc_layer_nothing_is_left_unpredicted() -> None:
    plan = plan_for(fresh("rhoai-2.25"))
    assert plan.operations and not any(o.predicted for o in plan.operations)
    steps = [Step("Permissions | set", "changed")]
    assert "may repeat" not in "\n".join(dry_run_lines(steps, plan.as_dict()))  # no ConfigMap data to put back
    assert not any(o.step == "Restart" for o in plan.operations)
