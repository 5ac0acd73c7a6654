"""The simulated TrustyAI operator's periodic resync meets a restarting apiserver (the fault tests kill it at
every bootstrap step): it must retry, not end the simulator. Before the fix one resync in the apiserver's
down-time raised ClusterError out of run() and no job got a pod again (a flaky fault test)."""

from __future__ import annotations

import queue
from types import SimpleNamespace
from typing import Any

from lmeval_setup.errors import ClusterError
from lmeval_setup.sandbox.trustyai_operator import TrustyAIOperator


class _Apiserver:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def get(self, _path: str, **_: Any) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _operator(answers: list[Any]) -> Any:
    return SimpleNamespace(kube=_Apiserver(answers), _queue=queue.Queue())


def test_a_resync_while_the_apiserver_is_down_is_retried_not_fatal() -> None:
    job = {"metadata": {"namespace": "ns", "name": "j"}}
    op = _operator([ClusterError("cannot reach the cluster at https://127.0.0.1:1: connection refused"),
                    {"items": [job]}])
    assert TrustyAIOperator._enqueue_all(op) is False  # not done: the loop tries again soon
    assert op._queue.empty()
    assert TrustyAIOperator._enqueue_all(op) is True
    assert op._queue.get_nowait() == ("ns", "j")
