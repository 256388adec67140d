"""An append-only JSON-lines file with group fsync: the simulators' book of record.

``append`` returns only once the record is on disk (fsync), so a biller simulator
never answers "applied" for a payment it could forget. Concurrent appends share one
fsync (group commit), which a flusher task issues as soon as the previous one is done.
On start, ``replay`` reads every complete line back (a torn last line is ignored).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio


class DurableLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []
        self._flushed = trio.Event()
        self._wakeup = trio.Event()
        self.fsyncs = 0

    def replay(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    return  # torn write at a crash: never acknowledged
                yield json.loads(line)

    async def append(self, record: dict[str, Any]) -> None:
        await self.append_many([record])

    async def append_many(self, records: list[dict[str, Any]]) -> None:
        """Several records, on disk together (one fsync) before this returns."""
        self._pending.extend(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        flushed = self._flushed
        self._wakeup.set()
        await flushed.wait()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher: one write + fsync per batch of appends."""
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            batch, self._pending = self._pending, []
            flushed, self._flushed = self._flushed, trio.Event()
            if batch:
                data = b"".join(batch)
                await trio.to_thread.run_sync(self._write, data)
                self.fsyncs += 1
            flushed.set()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)
