"""The notifier: delivers the SMS outbox to the gateway, asynchronously, with retries.

Rows are claimed in batches with ``FOR UPDATE SKIP LOCKED`` (several switch
processes can run notifiers side by side) and pushed back by an exponential backoff
*as they are claimed*, so a notifier that dies mid-send only delays its batch. A
message is retried until the gateway accepts it or ``max_attempts`` is reached
(then ``failed``, for operations to look at). The gateway is idempotent on the
message id, so a retry after a lost answer does not send the SMS twice. A round's
messages go in one request (``POST /v1/sms/batch``, each accepted or refused on its
own), or one request each for a gateway without it (``batch_api = false``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from switch.config import SmsConfig
from switch.db.database import Database
from switch.protocols.http11 import HttpClient, HttpError
from switch.sms.templates import SECRET_MARK

__all__ = ["SECRET_MARK", "Notifier", "NotifierStats", "with_secret"]

log = logging.getLogger("switch.notifier")


def with_secret(body: str, secret: str | None) -> str:
    """The text the gateway sends: the stored body with its secret put in."""
    return body.replace(SECRET_MARK, secret) if secret is not None else body


def _text(row: Any) -> str:
    return with_secret(row["body"], row["secret"])


def _message(row: Any) -> dict[str, Any]:
    """What the gateway is asked to send: the text with the registered template it
    was made from (Indian SMS rules: a text without one is not delivered)."""
    return {
        "id": f"sms-{row['id']}",
        "to": row["mobile"],
        "body": _text(row),
        "template_id": row["template_id"],
        "language": row["language"],
    }


@dataclass
class NotifierStats:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    requests: int = 0  # HTTP requests to the gateway


class Notifier:
    def __init__(self, db: Database, cfg: SmsConfig) -> None:
        self._db = db
        self._cfg = cfg
        self.stats = NotifierStats()

    def statistics(self) -> NotifierStats:
        return self.stats

    async def run(self) -> None:
        client = HttpClient(self._cfg.endpoint, max_connections=16, timeout_s=self._cfg.timeout_s)
        try:
            while True:
                claimed = await self.deliver_once(client)
                if claimed < self._cfg.batch:
                    await trio.sleep(self._cfg.poll_interval_s)
        finally:
            await client.aclose()

    async def _send_each(self, client: HttpClient, rows: list[Any]) -> list[str | None]:
        """One request per message (a gateway without the batch API): the error of
        each, None for those the gateway took."""
        errors: list[str | None] = [None] * len(rows)

        async def send(i: int, row: Any) -> None:
            message = _message(row)
            try:
                r = await client.post("/v1/sms", message)
                errors[i] = None if r.status == 200 else f"status {r.status}"
            except HttpError as exc:
                errors[i] = repr(exc)[:200]

        async with trio.open_nursery() as nursery:
            for i, row in enumerate(rows):
                nursery.start_soon(send, i, row)
        return errors

    async def _send_batch(self, client: HttpClient, rows: list[Any]) -> list[str | None]:
        """All the claimed messages in one request (POST /v1/sms/batch): a request per
        message cost the switch and the gateway more than the messages themselves."""
        messages = [_message(r) for r in rows]
        try:
            r = await client.post("/v1/sms/batch", {"messages": messages})
            results = r.json().get("results") if r.status == 200 else None
        except (HttpError, ValueError, AttributeError) as exc:
            return [repr(exc)[:200]] * len(rows)
        if not isinstance(results, list) or len(results) != len(rows):
            return [f"status {r.status}: not a batch answer"] * len(rows)
        return [
            None
            if isinstance(res, dict)
            and res.get("status") == "accepted"
            and res.get("id") == m["id"]
            else f"refused: {str(res)[:150]}"
            for m, res in zip(messages, results, strict=True)
        ]

    async def deliver_once(self, client: HttpClient) -> int:
        rows = await self._db.fetch(
            """UPDATE sms_outbox SET attempts = attempts + 1,
                      next_attempt_at = now() + make_interval(
                          secs => least($2::float8 * power(2, attempts), $3::float8))
                WHERE id IN (SELECT id FROM sms_outbox
                              WHERE state = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING id, mobile, body, secret, attempts, template_id, language""",
            self._cfg.batch,
            self._cfg.backoff_base_s,
            self._cfg.backoff_max_s,
        )
        if not rows:
            return 0
        sent: list[int] = []
        failed: list[tuple[int, str, bool]] = []
        results = await (self._send_batch if self._cfg.batch_api else self._send_each)(client, rows)
        for row, error in zip(rows, results, strict=True):
            if error is None:
                sent.append(row["id"])
            else:
                failed.append((row["id"], error, row["attempts"] >= self._cfg.max_attempts))
        if sent:
            await self._db.execute(
                """UPDATE sms_outbox SET state = 'sent', sent_at = now(), secret = NULL
                    WHERE id = ANY($1)""",
                sent,
            )
        for row_id, error, give_up in failed:
            await self._db.execute(
                """UPDATE sms_outbox SET last_error = $2,
                          state = CASE WHEN $3 THEN 'failed' ELSE state END,
                          secret = CASE WHEN $3 THEN NULL ELSE secret END WHERE id = $1""",
                row_id,
                error,
                give_up,
            )
        self.stats.sent += len(sent)
        self.stats.requests += 1 if self._cfg.batch_api else len(rows)
        self.stats.failed_attempts += len(failed)
        self.stats.given_up += sum(1 for *_, give_up in failed if give_up)
        return len(rows)
