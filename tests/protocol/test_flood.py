"""A short form of the flood benchmark (``python -m loadtests.flood_bench``): silent
sockets from several addresses, each opened again as soon as the switch closes it, in
a process of their own, while a real terminal connects and pays again and again."""

from __future__ import annotations

from loadtests.flood_bench import flood_figures
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch


async def test_a_reconnecting_flood_is_held_off_and_terminals_pay(
    switch: RunningSwitch, terminals: list[Credentials]
) -> None:
    connections_before = switch.deps.stats.connections  # the switch in this process counts
    figures = await flood_figures(terminals[0], 900, 3, samples=15, interval_s=0.1)
    # Every sample (a new connection, its handshake, a fetch and a pay) was served:
    # sample_terminal asserts each answer. The tests' handshake deadline is 1 s, so
    # the flood's sockets timed out and reconnected while the samples ran.
    assert figures["flood_s"] >= 1.5 and figures["flood"]["handshake"]["p50_ms"] > 0
    assert figures["flood_connections_opened"] > 900
    refused = switch.deps.gate.statistics().refused
    assert refused["rate_per_ip"] > 0
    assert switch.deps.stats.connections > connections_before + 900
    assert switch.deps.stats.handshake_failures.get("handshake_timeout", 0) > 0
