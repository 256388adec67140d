"""Logins, roles and tokens for the admin API.

* Passwords are hashed with argon2id (memory-hard; argon2-cffi), in a worker thread
  so that hashing never stalls the switch's event loop.
* A login returns a random bearer token; only its SHA-256 is stored, with an expiry
  (``token_ttl_s``). Logout revokes it.
* Failed sign-ins are bounded by sliding windows of ``lockout_s`` (switch/admin/
  throttle.py): ``max_failed_logins`` per user from one address (that address is then
  locked out of that login; the user signs in from elsewhere, or unlocks it with a
  reset), ``max_failed_logins_per_user`` from all addresses, and
  ``max_failed_logins_per_ip`` per address over any users (a password spray).
  The answer for an unknown user and a wrong password is the same.
* A forgotten password is reset with a 6-digit code sent by SMS (the outbox), good
  for ``reset_code_ttl_s`` and 5 tries.
* Roles, least privilege: each endpoint names the roles that may call it (see
  ``switch/admin/roles.py``); an agent's login sees only its own agent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from switch.admin.errors import ApiError
from switch.admin.throttle import Attempt, Throttle, Window
from switch.config import AdminConfig
from switch.db.database import Database
from switch.sms import Sms, render

RESET_TRIES = 5
log = logging.getLogger("switch.admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user with a role, or an agent (role 'agent')."""

    user_id: int
    username: str
    role: str
    agent_id: str | None
    circle_id: str | None = None  # a payer's staff member of one circle

    def sees_agent(self, agent_id: str | None) -> bool:
        return self.role != "agent" or agent_id == self.agent_id


class Passwords:
    def __init__(self, cfg: AdminConfig) -> None:
        self._hasher = PasswordHasher(
            time_cost=cfg.argon2_time_cost, memory_cost=cfg.argon2_memory_kib, parallelism=1
        )

    async def hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, hashed: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(hashed, password)
            except (VerificationError, InvalidHashError):
                return False

        return await trio.to_thread.run_sync(check)


def new_password() -> str:
    """A password to send by SMS on activation: the agent changes it at first login."""
    return secrets.token_urlsafe(9) + "7"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Auth:
    def __init__(self, db: Database, cfg: AdminConfig, throttle: Throttle | None = None) -> None:
        self._db = db
        self._cfg = cfg
        self.passwords = Passwords(cfg)
        self.throttle = throttle or Throttle(db, None)
        # The same work for an unknown user as for a wrong password.
        self._decoy_hash: str | None = None

    def windows(self, username: str, ip: str) -> list[Window]:
        """The sliding windows a sign-in attempt for ``username`` from ``ip`` counts in.

        The lock an attacker can cause is the narrow one: wrong passwords from one
        address lock that address out of that login, and the user signs in from
        anywhere else. Only a spray from many addresses at once (``per_user``) or many
        failures from one address over any users (``per_ip``) reach wider."""
        cfg, name = self._cfg, username.strip().lower()
        return [
            Window("ip", ip, cfg.max_failed_logins_per_ip, cfg.lockout_s),
            Window("user", name, cfg.max_failed_logins_per_user, cfg.lockout_s),
            Window("user_ip", f"{name}|{ip}", cfg.max_failed_logins, cfg.lockout_s),
        ]

    async def _take(self, username: str, ip: str) -> Attempt:
        """One attempt from the caller's windows, or the refusal that says which is full."""
        taken = await self.throttle.take(self.windows(username, ip))
        if isinstance(taken, Attempt):
            return taken
        wait = taken.retry_after_s
        if taken.window.scope == "ip":
            raise ApiError(
                "too_many_attempts",
                f"too many failed sign-ins from your address: try again in {wait} s",
                retry_after_s=wait,
            )
        raise ApiError(
            "account_locked",
            f"too many failed sign-ins: locked for {wait} s (a password reset unlocks it)",
            retry_after_s=wait,
        )

    async def login(self, username: str, password: str, ip: str = "") -> dict[str, Any]:
        # Each attempt is taken from its windows *before* its password is checked,
        # atomically: a burst of concurrent guesses gets exactly the allowed number
        # checked (it once got 7-19 of 5). Unknown users count too (no user probing).
        attempt = await self._take(username, ip)
        user = await self._db.fetchrow(
            "SELECT * FROM users WHERE username = $1", username.strip().lower()
        )
        if user is None or user["disabled"]:
            await self.passwords.verify(await self._decoy(), password)
            raise ApiError("bad_credentials", "wrong username or password")
        if not await self.passwords.verify(user["password_hash"], password):
            raise ApiError("bad_credentials", "wrong username or password")
        await self.throttle.give_back(attempt)
        # Whoever signs in from this address knows the password: its failures go.
        await self.throttle.clear(self.windows(username, ip)[2:])
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._cfg.token_ttl_s)
        await self._db.execute(
            "INSERT INTO user_tokens (token_sha256, user_id, expires_at) VALUES ($1, $2, $3)",
            token_digest(token),
            user["id"],
            expires,
        )
        return {
            "token": token,
            "expires_at": expires.isoformat(),
            "role": user["role"],
            "agent_id": user["agent_id"],
        }

    async def _take_ip(self, ip: str) -> Attempt:
        cfg = self._cfg
        taken = await self.throttle.take(
            [Window("ip", ip, cfg.max_failed_logins_per_ip, cfg.lockout_s)]
        )
        if isinstance(taken, Attempt):
            return taken
        raise ApiError(
            "too_many_attempts",
            f"too many requests from your address: try again in {taken.retry_after_s} s",
            retry_after_s=taken.retry_after_s,
        )

    async def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = await self.passwords.hash(secrets.token_hex(16))
        return self._decoy_hash

    async def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(
                "unauthorized", "send Authorization: Bearer <token> (POST /v1/auth/login)"
            )
        row = await self._db.fetchrow(
            """SELECT u.id, u.username, u.role, u.agent_id, u.circle_id FROM user_tokens t
                 JOIN users u ON u.id = t.user_id
                WHERE t.token_sha256 = $1 AND t.expires_at > now() AND NOT u.disabled""",
            token_digest(authorization.removeprefix("Bearer ").strip()),
        )
        if row is None:
            raise ApiError("unauthorized", "the token is unknown, expired or revoked")
        return Principal(row["id"], row["username"], row["role"], row["agent_id"], row["circle_id"])

    async def logout(self, authorization: str) -> None:
        token = authorization.removeprefix("Bearer ").strip()
        await self._db.execute(
            "DELETE FROM user_tokens WHERE token_sha256 = $1", token_digest(token)
        )

    async def request_reset(self, username: str, ip: str = "") -> None:
        """Send a code if the user exists; say nothing either way (no user probing).

        At most ``max_resets_per_hour`` codes per user per hour: each code allows
        RESET_TRIES guesses, so without a bound a stream of requests would make a
        6-digit code guessable (and flood the user's phone with SMS). Each request
        counts in its address's window too: one address cannot send codes to
        thousands of users."""
        await self._take_ip(ip)
        user = await self._db.fetchrow(
            "SELECT id, mobile FROM users WHERE username = $1 AND NOT disabled",
            username.strip().lower(),
        )
        if user is None:
            return
        code = f"{secrets.randbelow(10**6):06d}"
        code_hash = await self.passwords.hash(code)
        body = render("staff_reset_code", "en", minutes=int(self._cfg.reset_code_ttl_s // 60))
        user_id, mobile = user["id"], user["mobile"]
        await self._db.run(lambda c: self._send_code(c, user_id, mobile, code_hash, body, code))

    async def _send_code(
        self, conn: Any, user_id: int, mobile: str, code_hash: str, body: Sms, code: str
    ) -> None:
        async with conn.transaction():
            # The user's row lock: concurrent requests count one after the other.
            await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
            recent = await conn.fetchval(
                """SELECT count(*) FROM password_resets
                    WHERE user_id = $1 AND created_at > now() - interval '1 hour'""",
                user_id,
            )
            if recent >= self._cfg.max_resets_per_hour:
                log.warning("password reset: user %s had %d codes this hour", user_id, recent)
                return
            await conn.execute(
                """WITH r AS (INSERT INTO password_resets (user_id, code_hash, expires_at)
                              VALUES ($1, $2, now() + make_interval(secs => $3)))
                   INSERT INTO sms_outbox (mobile, body, secret, template_id, language)
                   VALUES ($4, $5, $6, $7, $8)""",
                user_id,
                code_hash,
                self._cfg.reset_code_ttl_s,
                mobile,
                body.body,
                code,
                body.template_id,
                body.language,
            )

    async def confirm_reset(self, username: str, code: str, new_password: str, ip: str = "") -> int:
        """Set the new password if the latest code matches; returns the user id.

        A guess counts in its address's window (a spray of codes over many users) and
        against the code's own RESET_TRIES, not in the user's windows: a reset is how a
        user whose login was locked by someone else's guesses unlocks it, so a lock
        must not stop it. The right code empties the user's windows."""
        attempt = await self._take_ip(ip)
        reset = await self._db.fetchrow(
            """SELECT r.id, r.code_hash, r.user_id FROM password_resets r
                 JOIN users u ON u.id = r.user_id
                WHERE u.username = $1 AND r.used_at IS NULL AND r.expires_at > now()
                  AND r.attempts < $2 ORDER BY r.id DESC LIMIT 1""",
            username.strip().lower(),
            RESET_TRIES,
        )
        bad = ApiError("bad_credentials", "the code is wrong, used or expired")
        if reset is None:
            raise bad
        # The guess is counted before it is checked, atomically: concurrent guesses can
        # never get more than RESET_TRIES checks of one code.
        counted = await self._db.fetchval(
            """UPDATE password_resets SET attempts = attempts + 1
                WHERE id = $1 AND attempts < $2 RETURNING attempts""",
            reset["id"],
            RESET_TRIES,
        )
        if counted is None or not await self.passwords.verify(reset["code_hash"], code):
            raise bad
        await self.throttle.give_back(attempt)
        await self.throttle.clear(self.windows(username, ip)[1:])
        await self._db.execute(
            """WITH used AS (UPDATE password_resets SET used_at = now() WHERE id = $1),
                    revoked AS (DELETE FROM user_tokens WHERE user_id = $2)
               UPDATE users SET password_hash = $3 WHERE id = $2""",
            reset["id"],
            reset["user_id"],
            await self.passwords.hash(new_password),
        )
        return int(reset["user_id"])
