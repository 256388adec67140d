"""Sending a small message without a trip through trio's scheduler.

``trio.SocketStream.send_all`` always yields to the scheduler, twice (a checkpoint
before the send and one after), even when the kernel takes every byte at once: a
terminal's answer or a biller request of a few hundred bytes on a socket with room.
Measured with py-spy, that was a fifth of the load generator's CPU and a twentieth
of the switch's. ``send_now`` writes what the kernel takes at once, with no await;
the caller sends the rest (if any) with ``send_all`` under its usual deadline.

Rules for callers: one writer per stream at a time (the caller's send lock, as
``send_all`` requires too), and something else in the task's loop must checkpoint
(every caller here awaits a read next), so that a task never runs unbounded.
"""

from __future__ import annotations

import os

import trio


def send_now(stream: trio.abc.Stream, data: bytes) -> memoryview:
    """Write as much of ``data`` as the socket takes without blocking; what is left
    (empty: everything was sent). A stream that is not a plain socket gets nothing
    written here: the whole of ``data`` is left for ``send_all``.

    Raises ``trio.ClosedResourceError`` if the stream was closed here, and
    ``trio.BrokenResourceError`` if the peer has gone, as ``send_all`` would."""
    view = memoryview(data)
    if not isinstance(stream, trio.SocketStream):
        return view
    fd = stream.socket.fileno()  # -1 once closed: a stale number is never written to
    if fd < 0:
        raise trio.ClosedResourceError("the stream is closed")
    try:
        sent = os.write(fd, view)
    except (BlockingIOError, InterruptedError):
        return view
    except OSError as exc:  # EPIPE, ECONNRESET, ...
        raise trio.BrokenResourceError(f"send failed: {exc!r}") from exc
    return view[sent:]
