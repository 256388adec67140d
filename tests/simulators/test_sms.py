"""The SMS gateway stand-in: one message or a batch, each checked on its own, durable."""

from __future__ import annotations

from pathlib import Path

import trio

from simulators.run import start_simulator
from simulators.sms.simulator import SmsSimulator
from switch.protocols.http11 import HttpClient


async def test_a_batch_is_accepted_message_by_message_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as n:
        sim, port = await start_simulator(n, "sms", tmp_path)
        client = HttpClient(f"http://127.0.0.1:{port}", max_connections=1, timeout_s=5)
        good = {"id": "m1", "to": "9876543210", "body": "receipt", "template_id": "1107160000"}
        untemplated = {"id": "m4", "to": "9876543210", "body": "receipt"}
        messages = [
            good,
            {"id": "m2", "to": "12345", "body": "x"},
            {"to": "9876543210"},
            good,
            untemplated,
        ]
        r = await client.post("/v1/sms/batch", {"messages": messages})
        results = r.json()["results"]
        assert r.status == 200 and [x.get("status") or x["error"] for x in results] == [
            "accepted",
            "invalid_request",
            "invalid_request",
            "accepted",
            "invalid_request",
        ]
        assert "10-digit" in results[1]["detail"] and results[2]["id"] is None
        assert "template_id" in results[4]["detail"]
        for bad in ({}, {"messages": []}, {"messages": [good] * 501}):
            assert (await client.post("/v1/sms/batch", bad)).status == 400
        assert (
            await client.post("/v1/sms", good | {"id": "m3", "body": "y", "language": "hi"})
        ).status == 200
        await client.aclose()
        assert set(sim.messages) == {"m1", "m3"}
        n.cancel_scope.cancel()
    sim.log.close()
    assert set(SmsSimulator(tmp_path).messages) == {"m1", "m3"}
