"""deploy/rbac/: least-privilege ClusterRoles for bootstrap, revert, the doctor and provision, generated from the code.

bootstrap's rights are what platform.detect reads (DETECT_READS) plus what its RBAC preflight checks
(plan.required_access over plan.planned_operations) for a run that plans every write, on every release line;
revert's are the reads plus what RevertStore.required_access checks for a record holding every kind of
field bootstrap records. So the shipped roles and the preflight cannot drift apart: `python -m
lmeval_setup.bootstrap.rbac deploy/rbac` writes them and tests/unit/test_rbac_manifests.py fails when the
files differ from what the code asks for today (and when detect reads something DETECT_READS lacks).

Each command gets two ClusterRoles: `<name>` for cluster-scoped objects (bind with a ClusterRoleBinding)
and `<name>-namespace` for the applications namespace (bind with a RoleBinding there: redhat-ods-applications
on OpenShift AI, opendatahub on Open Data Hub), so nothing in other namespaces is granted. The doctor reads
jobs, pods, events and logs wherever jobs are, so its one read-only ClusterRole is bound cluster-wide; it
never reads Secrets. provision's roles come from provision/access.py (what its preflight checks for every write
it can plan in a namespace that exists, and the reads it makes): one ClusterRole for the platform's cluster-scoped
reads, one for the applications namespace, one for the namespace it provisions. lint needs no rights
(offline). Discovery (/api, /apis) and SelfSubjectAccessReviews are allowed to every authenticated user by
the default roles (system:discovery, system:basic-user).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import yaml

from lmeval_setup.kube.access import Access
from lmeval_setup.platform import releases as R

JSON = dict[str, Any]
REVERT_RECORD = "lmeval-setup-revert"  # bootstrap's default record name (--revert-configmap changes it)
APPS_NS = "<applications namespace>"  # any: the namespaced role is bound by a RoleBinding there
CRD_GROUP = "apiextensions.k8s.io"
LABEL = {"app.kubernetes.io/part-of": "lmeval-setup"}


def _a(verb: str, group: str, resource: str, namespace: str | None = None, name: str | None = None) -> Access:
    return Access(verb=verb, group=group, resource=resource, namespace=namespace, name=name)


def detect_reads(dsc_group: str = R.DSC_GROUP) -> list[Access]:
    """Every read platform.detect makes (tests check it against detect run on every release's snapshot)."""
    return [
        _a("get", CRD_GROUP, "customresourcedefinitions", name=f"datascienceclusters.{R.DSC_GROUP}"),
        _a("get", CRD_GROUP, "customresourcedefinitions", name=R.KSERVE_ISVC_CRD),
        _a("list", dsc_group, "datascienceclusters"),
        _a("list", R.DSCI_GROUP, "dscinitializations"),
        # where no DSCInitialization names it, the applications namespace is found by its label
        _a("list", "", "namespaces"),
        _a("get", "apps", "deployments", APPS_NS, R.OPERATOR_DEPLOYMENT),
        _a("list", "", "pods", APPS_NS),
        _a("get", "", "configmaps", APPS_NS, R.OPERATOR_CONFIGMAP),
        _a("get", "", "configmaps", APPS_NS, R.DSC_CONFIGMAP),
    ]


def facts_module_reads() -> list[Access]:
    """What lmeval.setup.lmeval_facts reads (bootstrap and revert run it first): detect's reads, and the
    rollout check behind `restart_settled` (ReplicaSets and pods of the applications namespace)."""
    return [*detect_reads(), _a("list", "apps", "replicasets", APPS_NS), _a("list", "", "pods", APPS_NS)]


def _worst_case_facts(release: R.Release) -> Any:
    """What plan.planned_operations and plan.required_access read of ClusterFacts, for a cluster that needs
    everything (the DSC's name is left open: it is never assumed)."""
    operator = SimpleNamespace(deployment={"metadata": {"name": R.OPERATOR_DEPLOYMENT}})
    return SimpleNamespace(dsc_api_version=f"{R.DSC_GROUP}/v1", applications_namespace=APPS_NS, dsc_name=None,
                           release=release, operator=operator, operator_config={})


def bootstrap_access() -> list[Access]:
    from lmeval_setup.bootstrap.plan import Plan, planned_operations, required_access

    found = facts_module_reads()
    for release in R.RELEASES:
        facts = _worst_case_facts(release)
        plan = Plan(enable_trustyai=True, trustyai_patch={}, dsc_eval_patch={}, configmap_annotation_patch={},
                    configmap_data_patch={}, restart_possible=True)
        found += required_access(cast(Any, facts), planned_operations(cast(Any, facts), plan, REVERT_RECORD))
    return list(dict.fromkeys(found))


def revert_access() -> list[Access]:
    from lmeval_setup.bootstrap.revert import Entry, ObjectRef, RevertStore

    refs = [ObjectRef(api_version=f"{R.DSC_GROUP}/v1", kind="DataScienceCluster", plural="datascienceclusters",
                      name=cast(str, None)),
            ObjectRef(api_version="v1", kind="ConfigMap", plural="configmaps", name=R.OPERATOR_CONFIGMAP,
                      namespace=APPS_NS),
            ObjectRef(api_version="apps/v1", kind="Deployment", plural="deployments", name=R.OPERATOR_DEPLOYMENT,
                      namespace=APPS_NS)]
    entries = [Entry(ref=ref, path=("x",), present=True, value="", seq=i) for i, ref in enumerate(refs)]
    store = RevertStore(cast(Any, None), APPS_NS, REVERT_RECORD)  # given the entries, it reads no cluster
    return list(dict.fromkeys(facts_module_reads() + store.required_access(entries)))


def doctor_access() -> list[Access]:
    """Read-only: the platform (detect), jobs anywhere, and per namespace with unhealthy jobs their pods,
    Warning events, PVCs and logs (doctor/collect.py), the operator's log too, and Kueue's Workloads where a
    job waits for Kueue (doctor/kueue.py). No Secrets."""
    return list(dict.fromkeys(detect_reads() + doctor_job_reads()))


def doctor_job_reads(namespace: str | None = None) -> list[Access]:
    """What the doctor reads of the jobs' namespaces (all of them: None): the jobs, and where some are unhealthy
    their pods, Warning events, PVCs, logs and Kueue Workloads. provision's doctor of a failed job reads these
    in its namespace (provision/access.py)."""
    return [
        _a("list", R.LMEVAL_GROUP, "lmevaljobs", namespace), _a("list", "", "pods", namespace),
        _a("list", "", "events", namespace), _a("list", "", "persistentvolumeclaims", namespace),
        _a("get", "", "pods/log", namespace), _a("list", "kueue.x-k8s.io", "workloads", namespace),
    ]


# -- Access list -> PolicyRules -----------------------------------------------------------------------------
def policy_rules(accesses: Iterable[Access]) -> list[JSON]:
    """One rule per (group, resource, names) with every verb that needs exactly those names: a verb used
    on named objects only gets resourceNames, one used without a name (list, create) gets none."""
    names_by_verb: dict[tuple[str, str, str], set[str] | None] = {}
    for a in accesses:
        key = (a.group, a.resource, a.verb)
        known = names_by_verb.get(key, set())
        names_by_verb[key] = None if a.name is None or known is None else known | {a.name}
    verbs: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for (group, resource, verb), named in names_by_verb.items():
        verbs.setdefault((group, resource, tuple(sorted(named or ()))), []).append(verb)
    rules = []
    for (group, resource, names), verb_list in sorted(verbs.items()):
        rule: JSON = {"apiGroups": [group], "resources": [resource], "verbs": sorted(verb_list)}
        if names:
            rule["resourceNames"] = list(names)
        rules.append(rule)
    return rules


def cluster_role(name: str, accesses: Iterable[Access], description: str) -> JSON:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(LABEL), "annotations": {"description": description}},
            "rules": policy_rules(accesses)}


def _split(accesses: list[Access]) -> tuple[list[Access], list[Access]]:
    return [a for a in accesses if a.namespace is None], [a for a in accesses if a.namespace is not None]


def manifests() -> dict[str, list[JSON]]:
    """File name -> its documents."""
    files: dict[str, list[JSON]] = {}
    for command, accesses in (("bootstrap", bootstrap_access()), ("revert", revert_access())):
        cluster, namespaced = _split(accesses)
        files[f"{command}.yaml"] = [
            cluster_role(f"lmeval-setup-{command}", cluster,
                         f"lmeval-setup {command}: cluster-scoped objects (bind with a ClusterRoleBinding)"),
            cluster_role(f"lmeval-setup-{command}-namespace", namespaced,
                         f"lmeval-setup {command}: the applications namespace (bind with a RoleBinding there)"),
        ]
    files["doctor.yaml"] = [cluster_role("lmeval-setup-doctor", doctor_access(),
                                         "lmeval-setup doctor: read-only, no Secrets (bind with a ClusterRoleBinding)")]
    files["provision.yaml"] = provision_roles()
    return files


def provision_access() -> list[Access]:
    """Every permission provision uses in a namespace that exists: its own calls (provision/access.py: what its
    preflight checks for every write it can plan, and its reads), platform.detect's reads (the release and what
    the cluster permits) and, for a job that failed, the doctor's reads of that namespace and the operator's log."""
    from lmeval_setup.provision.access import NAMESPACE
    from lmeval_setup.provision.access import provision_access as own_calls

    return list(dict.fromkeys(detect_reads() + own_calls() + doctor_job_reads(NAMESPACE)
                              + [_a("get", "", "pods/log", APPS_NS)]))


def provision_roles() -> list[JSON]:
    """provision in a namespace that exists: the platform's cluster-scoped reads, its reads in the applications
    namespace, and everything in the namespace it provisions."""
    from lmeval_setup.provision.access import NAMESPACE

    accesses = provision_access()
    cluster = [a for a in accesses if a.namespace is None]
    platform = [a for a in accesses if a.namespace == APPS_NS]
    namespace = [a for a in accesses if a.namespace == NAMESPACE]
    assert len(cluster) + len(platform) + len(namespace) == len(accesses), "an access in an unknown namespace"
    return [
        cluster_role("lmeval-setup-provision", cluster,
                     "lmeval-setup provision: the platform's cluster-scoped reads (bind with a ClusterRoleBinding)"),
        cluster_role("lmeval-setup-provision-platform", platform,
                     "lmeval-setup provision: reads in the applications namespace (bind with a RoleBinding there)"),
        cluster_role("lmeval-setup-provision-namespace", namespace,
                     "lmeval-setup provision: the namespace it provisions (bind with a RoleBinding there)"),
    ]


HEADER = """\
# Generated by `python -m lmeval_setup.bootstrap.rbac deploy/rbac` from the access lists in the code
# (platform.detect's reads, bootstrap's RBAC preflight, revert's preflight, provision's access list);
# do not edit by hand.
# Bind, e.g. for a ServiceAccount SA in namespace NS:
#   oc create clusterrolebinding lmeval-setup-{command} --clusterrole=lmeval-setup-{command} --serviceaccount=NS:SA
"""
NAMESPACE_HINT = """\
#   oc create rolebinding lmeval-setup-{command} -n redhat-ods-applications \\
#     --clusterrole=lmeval-setup-{command}-namespace --serviceaccount=NS:SA    # opendatahub on Open Data Hub
"""
PROVISION_HINT = """\
#   oc create rolebinding lmeval-setup-provision-platform -n redhat-ods-applications \\
#     --clusterrole=lmeval-setup-provision-platform --serviceaccount=NS:SA    # opendatahub on Open Data Hub
#   oc create rolebinding lmeval-setup-provision -n CI_NS \\
#     --clusterrole=lmeval-setup-provision-namespace --serviceaccount=NS:SA   # CI_NS: the namespace provision uses
# The namespace must exist (provision creates a missing one only with the right to create namespaces).
"""


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (and so ansible-lint's production profile) expects."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render(name: str, documents: list[JSON]) -> str:
    command = name.removesuffix(".yaml")
    hint = PROVISION_HINT if command == "provision" else NAMESPACE_HINT.format(command=command)
    head = HEADER.format(command=command) + (hint if len(documents) > 1 else "")
    return head + yaml.dump_all(documents, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False,
                                explicit_start=True, width=100)


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, documents in manifests().items():
        path = directory / name
        path.write_text(render(name, documents), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/rbac")):
        print(written_path)
