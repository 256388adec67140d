"""The partner API's door: every request's signature checked (switch/partners/signing.py
has the rules), its key looked up, its nonce spent once across every switch process.

Keys are cached per process for ``key_refresh_s`` (a revoked key or a blocked partner
is refused everywhere within that time, without a query per request). Nonces live in
PostgreSQL (``partner_nonces``), inserted in group-committed batches: a nonce is
spent by exactly one request, on whichever process it lands, and a nonce older than
twice the allowed clock skew is deleted (its request would be refused as stale).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import trio

from switch.config import PartnersConfig
from switch.db.batch import Batcher
from switch.db.database import Database
from switch.db.periodic import every
from switch.partners import signing
from switch.partners.signing import SignatureRefused
from switch.partners.store import PartnerKey, key_of

MAX_CACHED_KEYS = 10_000  # unknown ids are cached too; a flood of them clears the cache
MAX_SWEPT = 50_000  # nonces deleted per sweep (the rest wait for the next)

_SPEND_SQL = """
INSERT INTO partner_nonces (key_id, nonce)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT DO NOTHING
RETURNING key_id, nonce
"""
_SWEEP_SQL = """
DELETE FROM partner_nonces WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM partner_nonces
     WHERE seen_at < now() - make_interval(secs => $1::float8) LIMIT $2))
"""


class Guard:
    def __init__(self, db: Database, cfg: PartnersConfig) -> None:
        self._db = db
        self._cfg = cfg
        self._keys: dict[str, tuple[float, PartnerKey | None]] = {}
        self._nonces: Batcher[tuple[str, str], bool] = Batcher(self._spend)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The nonce batcher, and the sweep of nonces past their window."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._nonces.run)
            nursery.start_soon(
                every, "partner nonce sweep", self._cfg.nonce_sweep_s, 30.0, self.sweep
            )
            task_status.started()

    async def check(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> PartnerKey:
        """The key (and partner) that signed this request, or ``SignatureRefused``
        (counted by code in ``switch_partner_requests_total``)."""
        signed = signing.parse(headers)
        signing.check_time(signed, int(time.time() * 1000), self._cfg.max_skew_s)
        key = await self._key(signed.key_id)
        if key is None or key.key_state != "active":
            raise SignatureRefused("unknown_key", f"no active key {signed.key_id}")
        if key.partner_state != "active":
            raise SignatureRefused("partner_blocked", f"partner {key.partner_id} is blocked")
        signing.check_signature(signed, key.public_key, method, path, body)
        if not await self._nonces.submit((signed.key_id, signed.nonce)):
            raise SignatureRefused("replayed", "this X-Nonce was used before with this key")
        return key

    async def _key(self, key_id: str) -> PartnerKey | None:
        now = trio.current_time()
        cached = self._keys.get(key_id)
        if cached is not None and now - cached[0] < self._cfg.key_refresh_s:
            return cached[1]
        key = await key_of(self._db, key_id)
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[key_id] = (now, key)
        return key

    async def _spend(self, batch: Sequence[tuple[str, str]]) -> list[bool | Exception]:
        rows = await self._db.fetch(_SPEND_SQL, [k for k, _ in batch], [n for _, n in batch])
        fresh = {(r["key_id"], r["nonce"]) for r in rows}
        answers: list[bool | Exception] = []
        for item in batch:  # two copies in one batch: the first spends it
            answers.append(item in fresh)
            fresh.discard(item)
        return answers

    async def sweep(self) -> None:
        await self._db.execute(_SWEEP_SQL, 2 * self._cfg.max_skew_s, MAX_SWEPT)
