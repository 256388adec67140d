"""Answers have a schema too: what the switch sends is exactly what docs/protocol.md
says, and an answer that is not is never sent (the terminal gets internal_error)."""

from __future__ import annotations

from typing import Any

import pytest

from switch.protocols.terminal.answers import ANSWERS, check_answer
from switch.protocols.terminal.errors import ProtocolError
from switch.protocols.terminal.examples import BILL, WELCOME

RECEIPT = {
    "txn": 7,
    "biller_txn": "B7",
    "ref": "R1",
    "biller": "UPPCL",
    "account": "1234567890",
    "amount_paise": 100_00,
    "time_ms": 1767225600000,
}
SUCCESS = {
    "type": "pay_result",
    "rid": 2,
    "ref": "R1",
    "txn": 7,
    "status": "success",
    "receipt": RECEIPT,
}
FAILED = {
    "type": "pay_result",
    "rid": 2,
    "ref": "R1",
    "txn": 7,
    "status": "failed",
    "code": "biller_rejected",
    "biller_code": "account_disconnected",
}


@pytest.mark.parametrize(
    "answer",
    [
        WELCOME,
        BILL,
        SUCCESS,
        FAILED,
        {"type": "pong"},
        {"type": "error", "code": "busy", "message": "later", "rid": None},
        {
            "type": "payments",
            "rid": 1,
            "next_after": None,
            "items": [
                {
                    "txn": 7,
                    "ref": "R1",
                    "biller": "UPPCL",
                    "account": "1234567890",
                    "amount_paise": 100_00,
                    "state": "posted",
                    "time_ms": 1,
                }
            ],
        },
        {
            "type": "summary",
            "rid": 1,
            "from": "2026-01-01",
            "to": "2026-01-31",
            "count": 1,
            "paid_count": 1,
            "paid_amount_paise": 100_00,
            "by_state": {"posted": {"count": 1, "amount_paise": 100_00}},
        },
    ],
    ids=lambda a: str(a["type"]),
)
def test_the_documented_answers_pass(answer: dict[str, Any]) -> None:
    check_answer(answer)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (SUCCESS | {"debug": 1}, "does not define"),
        ({k: v for k, v in SUCCESS.items() if k != "txn"}, "missing"),
        ({k: v for k, v in SUCCESS.items() if k != "receipt"}, "only with it"),
        (FAILED | {"code": "account_disconnected"}, "must be one of"),  # a biller's own code
        (FAILED | {"code": "insufficient_funds"}, "biller_rejected"),
        (SUCCESS | {"receipt": RECEIPT | {"amount_paise": -1}}, "amount_paise"),
        (BILL | {"due_date": "2026-02-30"}, "real date"),
        ({"type": "fetch_bill"}, "not an answer type"),
    ],
)
def test_an_answer_off_the_protocol_is_refused(answer: dict[str, Any], why: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        check_answer(answer)
    assert why in refused.value.message


def test_every_answer_type_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    table = doc.split("<!-- answers:begin -->")[1].split("<!-- answers:end -->")[0]
    assert all(f"| `{kind}` |" in table for kind in ANSWERS)
