"""The live cluster as platform.detect's ObjectSource: get, list and discovery over the kube client.

On a real network every sequential round trip costs the RTT (20-80 ms over a VPN), so a source built
with `workers` answers `prefetch()` hints: detect() names the reads it is about to make once their inputs
are known, they run concurrently on a small pool (sharing the client's keep-alive connections), and
the get/list/served_versions call that follows takes the answer instead of asking again. Each prefetched
answer is used once (a later call reads the cluster afresh, so long-lived callers never see stale
objects); one never asked for is counted in `unused` (the doctor's tests keep it at 0: no wasted GETs).
Without workers, prefetch() does nothing and every call is one request, as before.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any

from lmeval_setup.errors import UNREACHABLE, ClusterError
from lmeval_setup.kube.client import JSON, ApiError, Kube, resource_path
from lmeval_setup.kube.readpool import Future, ReadPool, is_interrupt, wait_for


@dataclass(frozen=True)
class Read:
    """One read of an ObjectSource, as a hashable key: ("get" | "list" | "versions", its arguments)."""

    kind: str
    group: str
    _: KW_ONLY
    version: str = ""
    plural: str = ""
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None

    @classmethod
    def get(cls, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> Read:
        return cls("get", group, version=version, plural=plural, name=name, namespace=namespace)

    @classmethod
    def list(cls, group: str, version: str, plural: str, namespace: str | None = None,
             label_selector: str | None = None) -> Read:
        return cls("list", group, version=version, plural=plural, namespace=namespace, label_selector=label_selector)

    @classmethod
    def versions(cls, group: str) -> Read:
        return cls("versions", group)


class KubeSource:
    """ObjectSource over a live cluster; with workers > 0, also a prefetcher (close it, or use `with`)."""

    def __init__(self, kube: Kube, workers: int = 0) -> None:
        self.kube = kube
        # Daemon workers, abandoned on Ctrl-C/SIGTERM (kube.readpool): a hung read must not hold up the exit.
        self._pool = ReadPool(workers, "kube-read") if workers else None
        self._pending: dict[Read, Future[Any]] = {}
        self._lock = threading.Lock()
        self.unused = 0  # prefetched answers nobody asked for (wasted requests)
        self._is_kubernetes = False

    # -- prefetching -------------------------------------------------------------------------------------
    def prefetch(self, reads: Iterable[Read]) -> None:
        """Start these reads now (concurrently); a no-op without workers."""
        if self._pool is None:
            return
        with self._lock:
            for read in reads:
                if read not in self._pending:
                    self._pending[read] = self._pool.submit(self._read, read)

    def _answer(self, read: Read) -> Any:
        with self._lock:
            pending = self._pending.pop(read, None)
        return wait_for(pending) if pending is not None else self._read(read)

    def close(self, wait: bool = True) -> None:
        """Wait for reads still running (a thread must not outlive the client) and count the unused ones;
        `wait=False` (the process is being interrupted) leaves running reads to their daemon threads."""
        if self._pool is None:
            return
        with self._lock:
            self.unused += len(self._pending)
            leftovers, self._pending = list(self._pending.values()), {}
        for future in leftovers:
            future.cancel()
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> KubeSource:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(wait=not is_interrupt(exc))

    # -- ObjectSource -------------------------------------------------------------------------------------
    def get(self, group: str, version: str, plural: str, name: str, namespace: str | None = None) -> JSON | None:
        answer: JSON | None = self._answer(Read.get(group, version, plural, name, namespace))
        return answer

    def list(
        self, group: str, version: str, plural: str, namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JSON]:
        answer: list[JSON] = self._answer(Read.list(group, version, plural, namespace, label_selector))
        return answer

    def served_versions(self, group: str) -> builtins.list[str]:
        answer: list[str] = self._answer(Read.versions(group))
        return answer

    # -- the requests ---------------------------------------------------------------------------------------
    def _read(self, read: Read) -> Any:
        if read.kind == "get":
            return self.kube.get_or_none(
                resource_path(read.group, read.version, read.plural, read.namespace, read.name))
        if read.kind == "list":
            return self._list(read)
        return self._served_versions(read.group)

    def _list(self, read: Read) -> builtins.list[JSON]:
        path = resource_path(read.group, read.version, read.plural, read.namespace)
        try:
            return list(self.kube.list_items(path, labelSelector=read.label_selector))
        except ApiError as exc:
            if exc.not_found:
                return []
            raise

    def _served_versions(self, group: str) -> builtins.list[str]:
        doc = self.kube.get_or_none(f"/apis/{group}")
        if not doc:
            self._require_kubernetes()
            return []
        preferred = doc.get("preferredVersion", {}).get("version")
        versions = [v["version"] for v in doc.get("versions", [])]
        return sorted(versions, key=lambda v: v != preferred)

    def _require_kubernetes(self) -> None:
        """A group that is not served is news only from a Kubernetes API server. A wrong URL or port (a web
        server, a router, a proxy) answers 404 to every path, which must not read as "OpenShift AI is not
        installed": every apiserver serves the core group's APIVersions at /api (any identity may read it)."""
        if self._is_kubernetes:
            return
        try:
            doc = self.kube.get_or_none("/api")
        except ApiError:  # 401, 403, ...: a Status from an apiserver that knows who is asking
            doc = {"kind": "APIVersions"}
        if not isinstance(doc, dict) or doc.get("kind") != "APIVersions":
            what = "404 Not Found" if doc is None else f"a {doc.get('kind') or 'non-Kubernetes'} document"
            raise ClusterError(f"{self.kube.host} is not a Kubernetes API server (GET /api answered {what})",
                               hint="check the server URL and port in the kubeconfig", reason=UNREACHABLE)
        self._is_kubernetes = True


def prefetch(source: object, *reads: Read) -> None:
    """Hint reads to a source that prefetches (KubeSource with workers, or a wrapper of one); else nothing."""
    hint = getattr(source, "prefetch", None)
    if hint is not None:
        hint(reads)
