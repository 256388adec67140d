"""Every error the terminal protocol can report, with its code and what happens next.

The table below is the contract; docs/protocol.md prints it and a test checks the two
agree. ``closes`` says whether the switch closes the connection after sending the
error frame (connection-level) or answers the one request and carries on
(request-level).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorSpec:
    closes: bool
    meaning: str


class ErrorCode(enum.StrEnum):
    # -- connection-level: the error frame is the last thing the switch sends --------
    FRAME_TOO_LARGE = "frame_too_large"
    TRUNCATED_FRAME = "truncated_frame"
    MALFORMED_FRAME = "malformed_frame"
    UNSUPPORTED_VERSION = "unsupported_version"
    HANDSHAKE_REQUIRED = "handshake_required"
    HANDSHAKE_FAILED = "handshake_failed"
    UNKNOWN_TERMINAL = "unknown_terminal"
    TERMINAL_BLOCKED = "terminal_blocked"
    AGENT_BLOCKED = "agent_blocked"
    BAD_MAC = "bad_mac"
    REPLAYED_SEQ = "replayed_seq"
    SEQ_GAP = "seq_gap"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    FRAME_TIMEOUT = "frame_timeout"
    SESSION_REPLACED = "session_replaced"
    SHUTTING_DOWN = "shutting_down"
    # -- request-level: answered with the request's rid; the session carries on ------
    UNKNOWN_MESSAGE_TYPE = "unknown_message_type"
    INVALID_REQUEST = "invalid_request"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    UNKNOWN_BILLER = "unknown_biller"
    UNKNOWN_CONSUMER = "unknown_consumer"
    INVALID_AMOUNT = "invalid_amount"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REFERENCE_REUSED = "reference_reused"
    UNKNOWN_REFERENCE = "unknown_reference"
    BILLER_UNAVAILABLE = "biller_unavailable"
    BILLER_REJECTED = "biller_rejected"
    FETCH_REQUIRED = "fetch_required"
    BILL_MISMATCH = "bill_mismatch"

    @property
    def spec(self) -> ErrorSpec:
        return ERRORS[self]

    @property
    def closes(self) -> bool:
        return ERRORS[self].closes


C, R = True, False
ERRORS: dict[ErrorCode, ErrorSpec] = {
    ErrorCode.FRAME_TOO_LARGE: ErrorSpec(C, "length prefix is 0 or over the frame limit"),
    ErrorCode.TRUNCATED_FRAME: ErrorSpec(C, "the connection ended in the middle of a frame"),
    ErrorCode.MALFORMED_FRAME: ErrorSpec(
        C, "the body is not a msgpack map of the required shape (type, seq), or bytes follow it"
    ),
    ErrorCode.UNSUPPORTED_VERSION: ErrorSpec(C, "hello.v names a protocol version we do not speak"),
    ErrorCode.HANDSHAKE_REQUIRED: ErrorSpec(C, "a message other than the handshake's came first"),
    ErrorCode.HANDSHAKE_FAILED: ErrorSpec(C, "a handshake signature did not verify"),
    ErrorCode.UNKNOWN_TERMINAL: ErrorSpec(C, "no terminal with this id is provisioned"),
    ErrorCode.TERMINAL_BLOCKED: ErrorSpec(C, "the terminal is blocked"),
    ErrorCode.AGENT_BLOCKED: ErrorSpec(C, "the terminal's agent is blocked"),
    ErrorCode.BAD_MAC: ErrorSpec(C, "the frame's HMAC tag is wrong"),
    ErrorCode.REPLAYED_SEQ: ErrorSpec(C, "seq is not above the last one accepted"),
    ErrorCode.SEQ_GAP: ErrorSpec(C, "seq skipped a number"),
    ErrorCode.HANDSHAKE_TIMEOUT: ErrorSpec(C, "the handshake did not finish in time"),
    ErrorCode.IDLE_TIMEOUT: ErrorSpec(C, "no frame arrived within the idle timeout"),
    ErrorCode.FRAME_TIMEOUT: ErrorSpec(C, "a frame was started but not finished in time"),
    ErrorCode.SESSION_REPLACED: ErrorSpec(C, "the same terminal opened a newer session"),
    ErrorCode.SHUTTING_DOWN: ErrorSpec(C, "the switch is stopping; reconnect later"),
    ErrorCode.UNKNOWN_MESSAGE_TYPE: ErrorSpec(R, "type is not a request this version knows"),
    ErrorCode.INVALID_REQUEST: ErrorSpec(
        R, "a field is missing, of the wrong type or out of limits"
    ),
    ErrorCode.TOO_MANY_IN_FLIGHT: ErrorSpec(R, "more requests unanswered than max_in_flight"),
    ErrorCode.RATE_LIMITED: ErrorSpec(R, "more requests per second than the terminal's rate"),
    ErrorCode.BUSY: ErrorSpec(R, "the switch is overloaded; retry (a pay: with the same ref)"),
    ErrorCode.UNAVAILABLE: ErrorSpec(
        R, "the switch cannot reach its database just now; retry (a pay: with the same ref)"
    ),
    ErrorCode.INTERNAL_ERROR: ErrorSpec(
        R, "a fault in the switch; retry (a pay: with the same ref)"
    ),
    ErrorCode.UNKNOWN_BILLER: ErrorSpec(R, "no biller with this id"),
    ErrorCode.UNKNOWN_CONSUMER: ErrorSpec(R, "the biller knows no consumer with this account"),
    ErrorCode.INVALID_AMOUNT: ErrorSpec(R, "the amount is not acceptable for this bill"),
    ErrorCode.INSUFFICIENT_FUNDS: ErrorSpec(R, "the agent's wallet cannot cover the pay"),
    ErrorCode.REFERENCE_REUSED: ErrorSpec(R, "this ref was used before for a different pay"),
    ErrorCode.UNKNOWN_REFERENCE: ErrorSpec(R, "no pay with this ref from this terminal"),
    ErrorCode.BILLER_UNAVAILABLE: ErrorSpec(R, "the biller cannot be reached; nothing was debited"),
    ErrorCode.BILLER_REJECTED: ErrorSpec(R, "the biller refused the pay; the wallet was refunded"),
    ErrorCode.FETCH_REQUIRED: ErrorSpec(
        R, "this biller takes a pay only with the bill_ref of a fetch_bill; nothing was held"
    ),
    ErrorCode.BILL_MISMATCH: ErrorSpec(
        R,
        "the bill_ref is altered, expired, or for another biller or consumer; fetch again",
    ),
}
assert set(ERRORS) == set(ErrorCode)


class ProtocolError(Exception):
    """Raised by the codec; the only exception it raises on any input."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
