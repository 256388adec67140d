"""How a consumer signs in to their own account: a one-time code by SMS to a mobile
the switch knows for the account, then a short signed session.

Rules:

1. A code goes only to a mobile known for the account: the one the biller has on
   record (from a live fetch), or one a payment or payment link of the account was
   sent to. For any other mobile the answer is the same ("if this mobile is the
   account's, a code is on its way") and no SMS goes: the page never says which
   mobiles belong to which accounts.
2. Each mobile may ask ``otp_per_hour`` times an hour, each address five times
   that; every request counts, sent or not.
3. A code is six digits, kept only as an HMAC under the switch's own key, works for
   ``otp_ttl_s``, and only the newest code of a (biller, account, mobile) works.
4. Each guess takes one of the code's ``otp_max_guesses`` in the same statement that
   reads the code, so twenty guesses at once still get only that many tries; the
   last wrong guess spends the code, the right one uses it up.
5. A session is the (biller, account, mobile) the code was for, with its end time,
   signed with the switch's key: it shows that account only, for ``session_ttl_s``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from switch.config import ConsumersConfig
from switch.db import Connection
from switch.db.database import Database
from switch.sms import render
from switch.sms.outbox import queue_sms

IP_FACTOR = 5  # an address may ask this many times what one mobile may


class CodeSent(enum.Enum):
    SENT_IF_KNOWN = "sent_if_known"  # rule 1: the same answer either way
    TOO_MANY = "too_many"  # rule 2


class Check(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    SPENT = "spent"  # too many wrong guesses, expired, or none asked for


@dataclass(frozen=True)
class Checked:
    result: Check
    tries_left: int = 0


@dataclass(frozen=True)
class ConsumerSession:
    biller_id: str
    account: str
    mobile: str
    expires_at: float


class ConsumerAccess:
    def __init__(self, db: Database, identity_seed: bytes, cfg: ConsumersConfig) -> None:
        self._db = db
        self._key = hmac.new(identity_seed, b"consumer access key v1", hashlib.sha256).digest()
        self.cfg = cfg

    def _hash(self, code_id: int, code: str) -> str:
        return hmac.new(self._key, f"code:{code_id}:{code}".encode(), hashlib.sha256).hexdigest()

    async def send_code(
        self, biller_id: str, account: str, mobile: str, known: set[str], ip: str, language: str
    ) -> CodeSent:
        """Rules 1-3: record the request, and send a code if the mobile is known."""
        code = f"{secrets.randbelow(10**6):06d}"

        async def write(conn: Connection) -> CodeSent:
            async with conn.transaction():
                # One request at a time per mobile: the counts below cannot race.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"otp:{mobile}")
                counts = await conn.fetchrow(
                    """SELECT count(*) FILTER (WHERE mobile = $1) AS by_mobile,
                              count(*) FILTER (WHERE ip = $2) AS by_ip
                         FROM consumer_codes
                        WHERE (mobile = $1 OR ip = $2)
                          AND created_at > now() - interval '1 hour'""",
                    mobile,
                    ip,
                )
                assert counts is not None
                by_mobile, by_ip = counts["by_mobile"], counts["by_ip"]
                if by_mobile >= self.cfg.otp_per_hour or by_ip >= self.cfg.otp_per_hour * IP_FACTOR:
                    return CodeSent.TOO_MANY
                code_id = await conn.fetchval(
                    """INSERT INTO consumer_codes (biller_id, consumer_account, mobile, ip,
                                                   expires_at)
                       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING id""",
                    biller_id,
                    account,
                    mobile,
                    ip,
                    self.cfg.otp_ttl_s,
                )
                if mobile not in known:
                    return CodeSent.SENT_IF_KNOWN
                await conn.execute(
                    "UPDATE consumer_codes SET code_hash = $2 WHERE id = $1",
                    code_id,
                    self._hash(code_id, code),
                )
                sms = render("consumer_otp", language, minutes=int(self.cfg.otp_ttl_s // 60))
                await queue_sms(conn, mobile, sms, secret=code)
                return CodeSent.SENT_IF_KNOWN

        return await self._db.run(write)

    async def check_code(self, biller_id: str, account: str, mobile: str, code: str) -> Checked:
        """Rule 4: one guess at the newest code for (biller, account, mobile)."""
        row = await self._db.fetchrow(
            """UPDATE consumer_codes SET guesses = guesses + 1
                WHERE id = (SELECT id FROM consumer_codes
                             WHERE biller_id = $1 AND consumer_account = $2 AND mobile = $3
                             ORDER BY id DESC LIMIT 1)
                  AND state = 'open' AND code_hash IS NOT NULL AND expires_at > now()
                  AND guesses < $4
            RETURNING id, code_hash, guesses""",
            biller_id,
            account,
            mobile,
            self.cfg.otp_max_guesses,
        )
        if row is None:
            return Checked(Check.SPENT)
        if hmac.compare_digest(row["code_hash"], self._hash(row["id"], code.strip())):
            used = await self._db.execute(
                "UPDATE consumer_codes SET state = 'used' WHERE id = $1 AND state = 'open'",
                row["id"],
            )
            return Checked(Check.OK if used.endswith("1") else Check.SPENT)
        left = self.cfg.otp_max_guesses - row["guesses"]
        if left <= 0:
            await self._db.execute(
                "UPDATE consumer_codes SET state = 'spent' WHERE id = $1 AND state = 'open'",
                row["id"],
            )
            return Checked(Check.SPENT)
        return Checked(Check.WRONG, left)

    # -- sessions (rule 5) ---------------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(
            hmac.new(self._key, b"session:" + payload, hashlib.sha256).digest()
        ).decode()

    def session_token(
        self, biller_id: str, account: str, mobile: str, purpose: str = "session"
    ) -> str:
        """``purpose``: "session" (signed in), or "pending" (a code was asked for this
        account and mobile: the code's page knows whom it is for, and nothing more)."""
        body = {"b": biller_id, "a": account, "m": mobile, "k": purpose}
        ttl_s = self.cfg.session_ttl_s if purpose == "session" else self.cfg.otp_ttl_s
        body["e"] = str(int(time.time() + ttl_s))
        payload = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode())
        return f"{payload.decode()}.{self._sign(payload)}"

    def session(self, token: str | None, purpose: str = "session") -> ConsumerSession | None:
        """The session a cookie names, or None (absent, altered, over, or another
        purpose's)."""
        if not token or len(token) > 600 or "." not in token:
            return None
        payload, _, tag = token.partition(".")
        if not hmac.compare_digest(self._sign(payload.encode()), tag):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload))
            if body["k"] != purpose:
                return None
            expires = float(body["e"])
            found = ConsumerSession(str(body["b"]), str(body["a"]), str(body["m"]), expires)
        except (ValueError, KeyError, TypeError):
            return None
        return found if expires > time.time() else None

    def csrf(self, token: str) -> str:
        """The token a signed-in consumer's forms carry (bound to their session)."""
        return self._sign(b"csrf:" + token.encode())[:32]
