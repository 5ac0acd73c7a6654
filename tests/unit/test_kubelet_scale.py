"""The sandbox kubelet's loop steps only the pods that need it (issue 15 item 2: it stalled at a few hundred
pods). Each watch event (any pod's in the cluster, its own status writes included) used to step every pod
of its node, each step building that pod's status: 300 finished pods and 2,000 events of other nodes' pods
were 600,000 steps (213 s at load 25). Now a pod is stepped when due, when its object changed, or once per
SWEEP_SECONDS. Driven here through the loop's own calls (_on_event, _step) on a stub API: no cluster."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lmeval_setup.sandbox import kubelet as K
from lmeval_setup.sandbox.scripts import ContainerScript, LogLine

OWN_PODS = 300
OTHER_EVENTS = 500


class StubKube:
    """What the kubelet writes (status patches, events, bindings) is accepted and counted; reads find nothing."""

    def __init__(self) -> None:
        self.writes = 0

    def request(self, *_: Any, **__: Any) -> dict[str, Any]:
        self.writes += 1
        return {}

    def create(self, *_: Any, **__: Any) -> dict[str, Any]:
        self.writes += 1
        return {}

    def get_or_none(self, *_: Any, **__: Any) -> None:
        return None


def _pod(i: int, node: str) -> dict[str, Any]:
    return {"metadata": {"uid": f"{node}-{i}", "name": f"p-{i}", "namespace": "ns", "annotations": {}},
            "spec": {"nodeName": node, "restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "quay.io/x/y:1", "command": ["run"]}]},
            "status": {}}


@pytest.fixture
def kubelet() -> K.Kubelet:
    failing = ContainerScript((LogLine(0.0, "Traceback (most recent call last):"),), exit_code=1, linger=0.0)
    kubelet = K.Kubelet(StubKube(), cert_pem=b"-", key_pem=b"-", resolvers=[lambda pod, c: failing])
    if kubelet.runtime is not None:  # scripts only: no process sandbox (and no reaper entry left behind)
        kubelet.runtime.teardown()
        kubelet.runtime = None
    return kubelet


def _count_advances(kubelet: K.Kubelet, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    advance = kubelet._advance

    def counting(run: K.PodRun, now: float) -> None:
        calls[0] += 1
        advance(run, now)

    monkeypatch.setattr(kubelet, "_advance", counting)
    return calls


def test_events_of_other_pods_do_not_step_every_finished_pod(kubelet: K.Kubelet,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(OWN_PODS):
        kubelet._on_event("ADDED", _pod(i, K.NODE_NAME))
    now = time.monotonic()
    for _ in range(3):  # start, play the one line, exit
        kubelet._step(now)
    assert {kubelet._phase(run) for run in kubelet._pods.values()} == {"Failed"}
    calls = _count_advances(kubelet, monkeypatch)
    for i in range(OTHER_EVENTS):  # as the loop does: an event, then a step
        kubelet._on_event("ADDED", _pod(i, "elsewhere"))
        kubelet._step(now)
    # every finished pod at most once (its periodic sweep), not once per event (150,000)
    assert calls[0] <= OWN_PODS, calls[0]


def test_a_changed_pod_is_stepped_at_once_and_an_idle_one_within_the_sweep(
        kubelet: K.Kubelet, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        kubelet._on_event("ADDED", _pod(i, K.NODE_NAME))
    now = time.monotonic()
    for _ in range(3):
        kubelet._step(now)
    calls = _count_advances(kubelet, monkeypatch)
    kubelet._step(now)
    assert calls[0] == 0, "nothing changed, nothing due: no step"
    deleting = _pod(1, K.NODE_NAME)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    kubelet._on_event("MODIFIED", deleting)
    kubelet._step(now)
    assert calls[0] == 1, "the changed pod, and only it"
    kubelet._step(now + K.SWEEP_SECONDS)
    assert calls[0] >= 3, "after SWEEP_SECONDS every pod is stepped again"


def test_every_pod_of_a_large_node_gets_a_valid_distinct_ip(kubelet: K.Kubelet) -> None:
    """Pod IPs were 10.128.0.{n}: from the 247th pod on an invalid address, so the apiserver refused the
    pod's status and it stayed Pending (the stall at a few hundred pods, found with 500 failing pods)."""
    import ipaddress

    for i in range(OWN_PODS):
        kubelet._on_event("ADDED", _pod(i, K.NODE_NAME))
    ips = [ipaddress.IPv4Address(run.ip) for run in kubelet._pods.values()]
    assert len(set(ips)) == OWN_PODS
    assert all(ip in ipaddress.IPv4Network("10.128.0.0/14") for ip in ips)
