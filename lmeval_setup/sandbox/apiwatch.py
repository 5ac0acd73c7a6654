"""List + watch against the real apiserver, for the sandbox's simulated controllers.

The informer pattern without a cache: list (to learn the current objects and the collection's
resourceVersion), then watch from that version through `Kube.watch`, and list again when the server
says the version is too old (410 Gone) or the connection drops. Watches are short (a few seconds of
server-side timeout) so that a stop request is honoured quickly; an idle watch costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lmeval_setup.errors import LmevalError
from lmeval_setup.kube.client import JSON, Kube

WATCH_SECONDS = 5
Handler = Callable[[str, JSON], None]


class _Gone(Exception):
    """The resourceVersion we watched from has been compacted away: list again."""


def _watch_until_stopped(kube: Kube, path: str, version: str, on_change: Handler, stop: threading.Event,
                         query: dict[str, Any]) -> None:
    while not stop.is_set():
        for event in kube.watch(path, resource_version=version, timeout_seconds=WATCH_SECONDS, **query):
            kind, obj = event.get("type", ""), event.get("object", {})
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone()
                raise LmevalError(f"watch {path}: {obj.get('message')}")
            version = obj.get("metadata", {}).get("resourceVersion", version)
            if kind != "BOOKMARK":
                on_change(kind, obj)
            if stop.is_set():
                return


def informer(kube: Kube, path: str, on_change: Handler, stop: threading.Event, *,
             retry_pause: float = 1.0, **query: Any) -> None:
    """List then watch `path` until `stop`, calling on_change(kind, obj) for every change.

    kind is "SYNC" for each object of a (re-)list (and once with {} when the list is empty), then
    ADDED / MODIFIED / DELETED. Handlers should be level-triggered: reconcile the whole state whatever
    the event, so a change that fell between two watches is never missed. Errors (apiserver
    restarting, the CRD not installed yet) are retried after `retry_pause` seconds.
    """
    while not stop.is_set():
        try:
            answer = kube.get(path, **query)
            version = str(answer.get("metadata", {}).get("resourceVersion", ""))
            items = answer.get("items", [])
            for item in items:
                on_change("SYNC", item)
            if not items:
                on_change("SYNC", {})
            _watch_until_stopped(kube, path, version, on_change, stop, query)
        except _Gone:
            continue
        except Exception:
            if stop.wait(retry_pause):
                return


def start_informer(kube: Kube, path: str, on_change: Handler, stop: threading.Event, name: str,
                   **query: Any) -> threading.Thread:
    thread = threading.Thread(target=informer, args=(kube, path, on_change, stop), kwargs=query,
                              name=name, daemon=True)
    thread.start()
    return thread
