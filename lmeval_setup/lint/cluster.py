"""lint --cluster: what a manifest needs from the cluster it will be applied to.

Reads (never writes): the effective permissions (through platform.detect's ClusterFacts, which
merges trustyai-dsc-config over trustyai-service-operator-config per release), and whether each
job's namespace, PVCs and referenced Secrets exist. Kept apart from the offline lint so the
kubernetes client is imported only when --cluster is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lmeval_setup.errors import LmevalError
from lmeval_setup.lint.loader import Document
from lmeval_setup.rules.finding import Evidence, Finding, Target
from lmeval_setup.rules.spec import mapping_or_empty, target_for

if TYPE_CHECKING:  # the kubernetes client is imported only when --cluster is given
    from lmeval_setup.platform.detect import ClusterFacts


def read_facts(kube: Any) -> tuple[ClusterFacts | None, str | None]:
    """The cluster's facts (effective permissions, release line), or (None, reason) when they cannot be read
    (e.g. no OpenShift AI)."""
    from lmeval_setup.kube.source import KubeSource
    from lmeval_setup.platform.detect import detect

    try:
        return detect(KubeSource(kube)), None
    except LmevalError as exc:
        return None, f"cluster permissions not checked: {exc.one_line()}"


def reference_findings(kube: Any, jobs: list[Document], default_namespace: str = "default") -> list[Finding]:
    """Namespace, PVC and Secret existence for every job (each object read at most once)."""
    cache: dict[str, bool] = {}

    def exists(path: str) -> bool:
        if path not in cache:
            cache[path] = kube.get_or_none(path) is not None
        return cache[path]

    findings: list[Finding] = []
    for doc in jobs:
        if not isinstance(doc.data, dict):
            continue
        target = target_for(doc.data)
        namespace = target.namespace or default_namespace
        if not exists(f"/api/v1/namespaces/{namespace}"):
            findings.append(_finding(doc, target, "LME015", f"namespace {namespace!r} does not exist on this cluster",
                                     "metadata.namespace", namespace))
            continue
        for rule_id, kind, path, name in _references(doc.data):
            plural = "persistentvolumeclaims" if kind == "PersistentVolumeClaim" else "secrets"
            if not exists(f"/api/v1/namespaces/{namespace}/{plural}/{name}"):
                findings.append(_finding(
                    doc, target, rule_id, f"{kind} {namespace}/{name} does not exist on this cluster", path, name,
                ))
    return findings


def _finding(doc: Document, target: Target, rule_id: str, message: str, path: str, text: str) -> Finding:
    file, line, column = doc.position(path)
    placed = dataclasses.replace(target, file=file, line=line, column=column)
    return Finding(rule_id, placed, message=message,
                   evidence=(Evidence("cluster", text, path=path, line=line, column=column),))


def _references(job: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(rule, kind, field path, name) of PVCs and Secrets the job needs before it starts."""
    spec = mapping_or_empty(job.get("spec"))
    outputs = mapping_or_empty(spec.get("outputs"))
    # A managed PVC (pvcManaged) wins over pvcName and is created by the operator.
    if isinstance(outputs.get("pvcName"), str) and not outputs.get("pvcManaged"):
        yield "LME025", "PersistentVolumeClaim", "spec.outputs.pvcName", outputs["pvcName"]
    storage = (spec.get("offline") or {}).get("storage") if isinstance(spec.get("offline"), dict) else None
    if isinstance(storage, dict) and isinstance(storage.get("pvcName"), str):
        yield "LME025", "PersistentVolumeClaim", "spec.offline.storage.pvcName", storage["pvcName"]
    seen: set[str] = set()
    for path, name in _secret_refs(spec, "spec"):
        if name not in seen:
            seen.add(name)
            yield "LME022", "Secret", path, name


def _secret_refs(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}"
            if key == "secretKeyRef" and isinstance(value, dict) and isinstance(value.get("name"), str):
                yield f"{sub}.name", value["name"]
            elif key == "secret" and isinstance(value, dict) and isinstance(value.get("secretName"), str):
                yield f"{sub}.secretName", value["secretName"]
            else:
                yield from _secret_refs(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_refs(value, f"{path}[{i}]")
    # S3 / OCI selectors are {name, key} objects directly under their field.
    if isinstance(node, dict) and path.startswith(("spec.offline.storage.s3", "spec.outputs.oci")) \
            and isinstance(node.get("name"), str) and isinstance(node.get("key"), str) and "Ref" not in path:
        yield f"{path}.name", node["name"]
