"""Framing: a 4-byte big-endian length, then that many bytes. Nothing else.

Rules (docs/protocol.md, "Framing"):
- the length counts the bytes after the prefix; it is at least 1 and at most
  MAX_FRAME_BYTES. A prefix outside that range is refused as soon as its 4 bytes
  arrive, before any body is buffered (a 4 GiB prefix costs us nothing);
- bytes are buffered only up to one frame's worth, so a peer cannot make us hold more;
- end of stream in the middle of a frame is ``truncated_frame``.
"""

from __future__ import annotations

from switch.protocols.terminal.errors import ErrorCode, ProtocolError

MAX_FRAME_BYTES = 16 * 1024
PREFIX_BYTES = 4


def frame(body: bytes) -> bytes:
    """Wrap ``body`` in a length prefix."""
    assert 0 < len(body) <= MAX_FRAME_BYTES, len(body)
    return len(body).to_bytes(PREFIX_BYTES, "big") + body


class FrameReader:
    """Bytes in, whole frames (prefix included) out."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held (0 between frames)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> None:
        """Add received bytes; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
            return
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next whole frame's wire bytes (prefix + body), or None if incomplete."""
        buf = self._buf
        if len(buf) >= PREFIX_BYTES:
            length = int.from_bytes(buf[:PREFIX_BYTES], "big")
            if length == 0 or length > self._max:
                raise ProtocolError(
                    ErrorCode.FRAME_TOO_LARGE, f"length {length} not in 1..{self._max}"
                )
            end = PREFIX_BYTES + length
            if len(buf) >= end:
                wire = bytes(buf[:end])
                del buf[:end]
                return wire
        if self._eof:
            if buf:
                raise ProtocolError(ErrorCode.TRUNCATED_FRAME, f"{len(buf)} bytes then EOF")
            return None
        return None

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._buf
