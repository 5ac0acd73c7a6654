"""A simulator meets an apiserver that refuses a read (restarting after a fault test killed it, or overloaded:
5xx, 429): it retries, as the component it stands in for does; it never ends. A simulator whose run() raises
is listed by Sandbox.failures() for the rest of the test, and what it simulated stops for good (issue 16:
test_bootstrap_reliability's fault chain saw a non-empty failures() once at load 29).

The ApiError paths left after test_simulator_resync's fix: the kubelet's scheduler reading a pod's claim, and
the simulated TrustyAI manager reading its ConfigMap at start-up."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, NoReturn

from lmeval_setup.kube.client import ApiError
from lmeval_setup.sandbox.kubelet import Kubelet
from lmeval_setup.sandbox.trustyai_operator import TrustyAIOperator

UNAVAILABLE = ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")


class _Refusing:
    """Every read is refused as a starting apiserver may refuse it."""

    def get_or_none(self, _path: str) -> NoReturn:
        raise UNAVAILABLE

    def get(self, _path: str, **_: Any) -> NoReturn:
        raise UNAVAILABLE


def _pod_with_a_claim() -> dict[str, Any]:
    return {"metadata": {"uid": "u1", "namespace": "ns", "name": "job"},
            "spec": {"containers": [{"name": "main", "image": "x"}],
                     "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": "outputs"}}]}}


def test_the_kubelet_retries_scheduling_when_a_claim_read_is_refused() -> None:
    kubelet = Kubelet(_Refusing(), cert_pem=b"unused", key_pem=b"unused")  # type: ignore[arg-type]
    pod = _pod_with_a_claim()
    kubelet._observe(pod)  # unbound: the kubelet's scheduler places it
    now = time.monotonic()
    kubelet._step(now)  # raised the ApiError out of the kubelet's loop, which ended the simulator
    retry_at, _ = kubelet._pending["u1"]
    assert now < retry_at <= now + 1.0, "scheduled again a second later"
    assert "u1" in kubelet._unbound


def test_the_simulated_manager_starts_up_again_when_its_configmap_read_is_refused() -> None:
    pod = {"metadata": {"uid": "p1"}}

    def refused() -> NoReturn:
        raise UNAVAILABLE

    operator = SimpleNamespace(leader=None, options=None, _running_operator_pod=lambda: pod, _start_up=refused)
    TrustyAIOperator._follow_operator_pod(operator)  # type: ignore[arg-type]
    assert (operator.leader, operator.options) == (None, None), "not started: the next turn starts it up again"
    operator._start_up = lambda: "options"
    TrustyAIOperator._follow_operator_pod(operator)  # type: ignore[arg-type]
    assert (operator.leader, operator.options) == (pod, "options")
