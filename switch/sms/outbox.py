"""Queueing a message in the SMS outbox, in the caller's transaction: the notifier
(``switch/actors/notifier.py``) delivers it, with retries."""

from __future__ import annotations

from switch.db import Connection
from switch.sms.templates import Sms


async def queue_sms(conn: Connection, mobile: str, sms: Sms, secret: str | None = None) -> None:
    """``secret``: put in for ``{secret}`` only as it is sent, erased once it is."""
    await conn.execute(
        """INSERT INTO sms_outbox (mobile, body, secret, template_id, language)
           VALUES ($1, $2, $3, $4, $5)""",
        mobile,
        sms.body,
        secret,
        sms.template_id,
        sms.language,
    )
