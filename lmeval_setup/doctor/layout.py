"""The on-disk layout shared by the offline reader and the `--collect` writer: `oc adm inspect`'s.

Learnt from openshift/oc pkg/cli/admin/inspect (util.go dirPathForInfo/filenameForInfo, namespace.go,
pod.go) and red-hat-data-services/must-gather collection-scripts (gather, common.sh, gather_trustyai):

  <root>/cluster-scoped-resources/<group|core>/<plural>/<name>.yaml     one object
  <root>/cluster-scoped-resources/<group|core>/<plural>.yaml            a List
  <root>/namespaces/<ns>/<ns>.yaml                                      the Namespace
  <root>/namespaces/<ns>/<group|core>/<plural>.yaml                     a List (inspect ns/<ns>: pods, events ...)
  <root>/namespaces/<ns>/<group|core>/<plural>/<name>.yaml              one object (inspect <type> -n <ns>)
  <root>/namespaces/<ns>/pods/<pod>/<pod>.yaml                          the pod
  <root>/namespaces/<ns>/pods/<pod>/<container>/<container>/logs/{current,previous}.log

A must-gather wraps one such root per image (`must-gather.local.<n>/<image-dir>/`); the RHOAI image with
COMPONENT=trustyai inspects the operator and applications namespaces, the DSC/DSCI and component CRs, and
every namespace that has lmevaljobs (gather_trustyai). Our own `--collect` adds SNAPSHOT_META_FILE.
"""

from __future__ import annotations

CLUSTER_DIR = "cluster-scoped-resources"
NAMESPACES_DIR = "namespaces"
PODS_DIR = "pods"
CORE = "core"


def group_dir(group: str) -> str:
    return group or CORE


def group_from_dir(name: str) -> str:
    return "" if name == CORE else name
