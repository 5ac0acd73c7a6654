"""The sandbox's one informer re-lists after an error with a doubling pause, capped, and starts again
from the shortest pause once the apiserver answers (issue 18 item 2). A fake kube plays an apiserver
that is away, and the stop event records each pause instead of sleeping it; list/watch against the real
apiserver is what every sandbox test runs on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from lmeval_setup.errors import ClusterError
from lmeval_setup.sandbox import apiwatch


class RecordedStop(threading.Event):
    """Records every pause asked for; stops after `limit` of them."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.pauses = limit, []  # type: int, list[float | None]

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.limit:
            self.set()
        return self.is_set()


class AwayThenBack:
    """`get` fails `failures` times, answers once, then fails again; every watch fails at once."""

    def __init__(self, failures: int) -> None:
        self.failures, self.lists = failures, 0

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        self.lists += 1
        if self.lists == self.failures + 1:
            return {"metadata": {"resourceVersion": "1"}, "items": [{"metadata": {"name": "a"}}]}
        raise ClusterError("cannot reach the cluster")

    def watch(self, path: str, **query: Any) -> Iterator[dict[str, Any]]:
        raise ClusterError("watch interrupted")
        yield {}


def test_errors_back_off_and_an_answer_resets_the_pause() -> None:
    stop = RecordedStop(limit=8)
    listed: list[list[Any]] = []
    apiwatch.informer(AwayThenBack(failures=5), "/api/v1/pods", lambda kind, obj: None, stop,  # type: ignore[arg-type]
                      on_list=listed.append)
    first, cap = apiwatch.BACKOFF_FIRST, apiwatch.BACKOFF_MAX
    assert (first, cap) == (0.25, 2.0)
    # five failed lists: doubling, capped; the answer resets it, so the failed watch waits the least again
    assert stop.pauses == [0.25, 0.5, 1.0, 2.0, 2.0, 0.25, 0.5, 1.0]
    assert listed == [[{"metadata": {"name": "a"}}]]
