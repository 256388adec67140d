"""The notifier: delivers the SMS outbox to the gateway, asynchronously, with retries.

Rows are claimed in batches with ``FOR UPDATE SKIP LOCKED`` (several switch
processes can run notifiers side by side) and pushed back by an exponential backoff
*as they are claimed*, so a notifier that dies mid-send only delays its batch. A
message is retried until the gateway accepts it or ``max_attempts`` is reached
(then ``failed``, for operations to look at). The gateway is idempotent on the
message id, so a retry after a lost answer does not send the SMS twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trio

from switch.config import SmsConfig
from switch.db.database import Database
from switch.protocols.http11 import HttpClient, HttpError

log = logging.getLogger("switch.notifier")


@dataclass
class NotifierStats:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0


class Notifier:
    def __init__(self, db: Database, cfg: SmsConfig) -> None:
        self._db = db
        self._cfg = cfg
        self.stats = NotifierStats()

    async def run(self) -> None:
        client = HttpClient(self._cfg.endpoint, max_connections=16, timeout_s=self._cfg.timeout_s)
        try:
            while True:
                claimed = await self.deliver_once(client)
                if claimed < self._cfg.batch:
                    await trio.sleep(self._cfg.poll_interval_s)
        finally:
            await client.aclose()

    async def deliver_once(self, client: HttpClient) -> int:
        rows = await self._db.fetch(
            """UPDATE sms_outbox SET attempts = attempts + 1,
                      next_attempt_at = now() + make_interval(
                          secs => least($2::float8 * power(2, attempts), $3::float8))
                WHERE id IN (SELECT id FROM sms_outbox
                              WHERE state = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING id, mobile, body, attempts""",
            self._cfg.batch,
            self._cfg.backoff_base_s,
            self._cfg.backoff_max_s,
        )
        if not rows:
            return 0
        sent: list[int] = []
        failed: list[tuple[int, str, bool]] = []

        async def send(row_id: int, mobile: str, body: str, attempts: int) -> None:
            message = {"id": f"sms-{row_id}", "to": mobile, "body": body}
            try:
                r = await client.post("/v1/sms", message)
                ok, error = r.status == 200, f"status {r.status}"
            except HttpError as exc:
                ok, error = False, repr(exc)[:200]
            if ok:
                sent.append(row_id)
            else:
                failed.append((row_id, error, attempts >= self._cfg.max_attempts))

        async with trio.open_nursery() as nursery:
            for r in rows:
                nursery.start_soon(send, r["id"], r["mobile"], r["body"], r["attempts"])
        if sent:
            await self._db.execute(
                "UPDATE sms_outbox SET state = 'sent', sent_at = now() WHERE id = ANY($1)", sent
            )
        for row_id, error, give_up in failed:
            await self._db.execute(
                """UPDATE sms_outbox SET last_error = $2,
                          state = CASE WHEN $3 THEN 'failed' ELSE state END WHERE id = $1""",
                row_id,
                error,
                give_up,
            )
        self.stats.sent += len(sent)
        self.stats.failed_attempts += len(failed)
        self.stats.given_up += sum(1 for *_, give_up in failed if give_up)
        return len(rows)
