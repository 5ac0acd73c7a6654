"""The live cluster as platform.detect's ObjectSource: get, list and discovery over the kube client."""

from __future__ import annotations

from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path


class KubeSource:
    """ObjectSource over a live cluster."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        return self.kube.get_or_none(resource_path(group, version, plural, namespace, name))

    def list(
        self, group: str, version: str, plural: str, namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JSON]:
        try:
            return list(
                self.kube.list_items(resource_path(group, version, plural, namespace), labelSelector=label_selector)
            )
        except ApiError as exc:
            if exc.not_found:
                return []
            raise

    def served_versions(self, group: str) -> list[str]:
        doc = self.kube.get_or_none(f"/apis/{group}")
        if not doc:
            return []
        preferred = doc.get("preferredVersion", {}).get("version")
        versions = [v["version"] for v in doc.get("versions", [])]
        return sorted(versions, key=lambda v: v != preferred)
