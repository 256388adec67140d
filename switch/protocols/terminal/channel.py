"""The authenticated channel after the handshake: MAC every frame, count every frame.

Wire form of every frame after the handshake:

    prefix (4 bytes, = len(payload) + 32) || payload (msgpack map) || tag (32 bytes)
    tag = HMAC-SHA256(key of this direction, prefix || payload)

The tag is checked over the exact bytes received *before* the payload is parsed. Each
direction numbers its frames 1, 2, 3, ... in ``seq``; the receiver accepts exactly
last + 1 (lower: ``replayed_seq``, higher: ``seq_gap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switch.protocols.terminal import crypto
from switch.protocols.terminal.errors import ErrorCode, ProtocolError
from switch.protocols.terminal.framing import MAX_FRAME_BYTES, PREFIX_BYTES
from switch.protocols.terminal.messages import decode, encode


class Channel:
    __slots__ = ("_recv_key", "_send_key", "recv_seq", "send_seq")

    def __init__(self, send_key: bytes, recv_key: bytes) -> None:
        self._send_key = send_key
        self._recv_key = recv_key
        self.send_seq = 0
        self.recv_seq = 0

    def seal(self, msg: Mapping[str, Any]) -> bytes:
        self.send_seq += 1
        payload = encode({**msg, "seq": self.send_seq})
        length = len(payload) + crypto.TAG_BYTES
        if length > MAX_FRAME_BYTES:
            raise ValueError(f"message of {length} bytes is over the frame limit")
        head = length.to_bytes(PREFIX_BYTES, "big") + payload
        return head + crypto.tag(self._send_key, head)

    def open(self, wire: bytes) -> dict[str, Any]:
        if len(wire) <= PREFIX_BYTES + crypto.TAG_BYTES:
            raise ProtocolError(ErrorCode.BAD_MAC, "frame too short to carry a tag")
        head, received = wire[: -crypto.TAG_BYTES], wire[-crypto.TAG_BYTES :]
        if not crypto.tag_ok(self._recv_key, head, received):
            raise ProtocolError(ErrorCode.BAD_MAC, "HMAC tag does not match")
        msg = decode(head[PREFIX_BYTES:])
        seq, kind = msg.get("seq"), msg.get("type")
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(kind, str):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "seq (int) and type (str) required")
        if seq <= self.recv_seq:
            raise ProtocolError(ErrorCode.REPLAYED_SEQ, f"seq {seq} after {self.recv_seq}")
        if seq != self.recv_seq + 1:
            raise ProtocolError(ErrorCode.SEQ_GAP, f"seq {seq} after {self.recv_seq}")
        self.recv_seq = seq
        return msg
