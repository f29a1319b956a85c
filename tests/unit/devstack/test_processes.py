"""The stack's ports: a server started a moment after its port was chosen must still find it free."""

from __future__ import annotations

import random
import socket

import pytest

from devstack import processes
from devstack.processes import free_port


def test_free_ports_lie_below_the_ephemeral_range_so_no_outgoing_connection_takes_one_first() -> None:
    low, _ = processes._ephemeral_range()
    if low - processes._LOWEST_PORT < 1_000:
        pytest.skip(f"this kernel leaves no room below its ephemeral range (it starts at {low})")
    ports = [free_port() for _ in range(50)]
    assert all(processes._LOWEST_PORT <= port < low for port in ports)
    assert len(set(ports)) == len(ports)  # never the same port twice to one process


def test_a_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        assert s.getsockname()[1] == port


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        offered: list[int] = []

        class FirstTheBusyPort:  # offers the busy port twice, then any port
            def randrange(self, start: int, stop: int) -> int:
                offered.append(busy if len(offered) < 2 else random.randrange(start, stop))
                return offered[-1]

        monkeypatch.setattr(processes.random, "SystemRandom", FirstTheBusyPort)
        monkeypatch.setattr(processes, "_ephemeral_range", lambda: (busy + 1, 60_999))
        port = free_port()
        assert offered[:2] == [busy, busy]
        assert port != busy
