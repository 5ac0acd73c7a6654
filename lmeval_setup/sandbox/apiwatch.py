"""List + watch against the real apiserver: the one informer of the sandbox's simulated controllers.

The informer pattern without a cache: list (to learn the current objects and the collection's
resourceVersion), then watch from that version through `Kube.watch`, and list again when the server
says the version is too old (410 Gone, at once) or the connection drops or the apiserver is away
(after a backoff that doubles from BACKOFF_FIRST to BACKOFF_MAX and starts again after a good list).
Watches are short (a few seconds of server-side timeout) so that a stop request is honoured quickly;
an idle watch costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lmeval_setup.errors import LmevalError
from lmeval_setup.kube.client import JSON, Kube

WATCH_SECONDS = 5
BACKOFF_FIRST = 0.25  # seconds before the first re-list after an error
BACKOFF_MAX = 2.0  # a restarted apiserver is noticed within this long
Handler = Callable[[str, JSON], None]
ListHandler = Callable[[list[JSON]], None]


class _Gone(Exception):
    """The resourceVersion we watched from has been compacted away: list again."""


def _watch_until_stopped(kube: Kube, path: str, version: str, on_change: Handler, stop: threading.Event,
                         query: dict[str, Any], watch_seconds: int) -> None:
    while not stop.is_set():
        for event in kube.watch(path, resource_version=version, timeout_seconds=watch_seconds, **query):
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
             on_list: ListHandler | None = None, watch_seconds: int = WATCH_SECONDS, **query: Any) -> None:
    """List then watch `path` until `stop`, calling on_change(kind, obj) for every change.

    A (re-)list calls on_list(items) when given; otherwise on_change("SYNC", item) for each object (and
    once with {} when the list is empty). Then ADDED / MODIFIED / DELETED. Handlers should be
    level-triggered: reconcile the whole state whatever the event, so a change that fell between two
    watches is never missed. Errors (apiserver restarting, the CRD not installed yet) are retried with
    backoff.
    """
    pause = BACKOFF_FIRST
    while not stop.is_set():
        try:
            answer = kube.get(path, **query)
            pause = BACKOFF_FIRST  # the apiserver answers: the next error starts the backoff afresh
            version = str(answer.get("metadata", {}).get("resourceVersion", ""))
            items = answer.get("items", [])
            if on_list is not None:
                on_list(items)
            else:
                for item in items:
                    on_change("SYNC", item)
                if not items:
                    on_change("SYNC", {})
            _watch_until_stopped(kube, path, version, on_change, stop, query, watch_seconds)
        except _Gone:
            continue
        except Exception:  # the simulators must outlive anything a restarting apiserver does to them
            if stop.wait(pause):
                return
            pause = min(pause * 2, BACKOFF_MAX)


def start_informer(kube: Kube, path: str, on_change: Handler, stop: threading.Event, name: str,
                   **query: Any) -> threading.Thread:
    thread = threading.Thread(target=informer, args=(kube, path, on_change, stop), kwargs=query,
                              name=name, daemon=True)
    thread.start()
    return thread
