"""Control-plane ports are picked where no outgoing connection can take them (issue 15 item 5).

free_port() releases its port before etcd or the apiserver binds it. A port from the kernel's ephemeral range
(bind to 0) could be handed to any outgoing connection in between: with three xdist workers starting planes
at once, etcd failed with "bind: address already in use" (seen in test_doctor_scenarios, spread over 3 workers).
"""

from __future__ import annotations

import pytest

from lmeval_setup.sandbox import controlplane
from lmeval_setup.sandbox.controlplane import _bindable, ephemeral_ports, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_free() -> None:
    low, _ = ephemeral_ports()
    ports = [free_port() for _ in range(50)]
    assert [p for p in ports if not 10000 <= p < low] == []
    assert all(_bindable(p) for p in ports)


def test_without_room_below_the_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controlplane, "ephemeral_ports", lambda: (1024, 65535))
    port = free_port()
    assert 1024 <= port <= 65535 and _bindable(port)


def test_a_repeated_draw_never_hands_out_a_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plane picks the apiserver's port and etcd's two before any listens: a repeated draw could give two of them
    one port, and one would exit with "bind: address already in use", as etcd did in a fresh-clone run on
    2026-12-07 (its log cannot tell this from another process taking the port, which a plane now survives too)."""
    draws = iter([4321, 4321, 4321, 1234])
    monkeypatch.setattr(controlplane.secrets, "randbelow", lambda n: next(draws))
    # this process's earlier planes are not the point
    monkeypatch.setattr(controlplane, "_HANDED_OUT", set(), raising=False)
    monkeypatch.setattr(controlplane, "ephemeral_ports", lambda: (32768, 60999))

    client, peer = free_port(), free_port()

    assert (client, peer) == (14321, 11234)
