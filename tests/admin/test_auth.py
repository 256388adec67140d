"""Logins: memory-hard hashes, expiring and revocable tokens, lockout, SMS reset."""

from __future__ import annotations

import re

from tests.admin.conftest import MOBILE, PASSWORD, Admin, last_sms


async def test_passwords_are_stored_as_argon2id(admin: Admin) -> None:
    stored = await admin.sw.db.fetchval(
        "SELECT password_hash FROM users WHERE username = 'finance'"
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_wrong_password_and_unknown_user_look_the_same(admin: Admin) -> None:
    for body in (
        {"username": "finance", "password": "nope-nope-1"},
        {"username": "nobody", "password": "nope-nope-1"},
    ):
        r = await admin.http.post("/v1/auth/login", json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_credentials"


def at(ip: str) -> dict[str, str]:
    """Headers for a call from ``ip`` (the tests' switch trusts loopback as its proxy)."""
    return {"X-Forwarded-For": ip}


async def login_from(admin: Admin, ip: str, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    r = await admin.http.post("/v1/auth/login", json=body, headers=at(ip))
    return r.status_code


async def test_failures_lock_the_login_only_from_where_they_came(admin: Admin) -> None:
    """Five wrong passwords from one address lock that address out of the login, even
    with the right password; the user signs in from anywhere else (an attacker cannot
    lock a user out by guessing), and the lock says when it ends."""
    for _ in range(admin.cfg.admin.max_failed_logins):
        assert await login_from(admin, "10.1.1.1", "support", "wrong-pass-1") == 401
    locked = await admin.http.post(
        "/v1/auth/login",
        json={"username": "support", "password": PASSWORD},
        headers=at("10.1.1.1"),
    )
    assert locked.status_code == 423 and locked.json()["error"]["code"] == "account_locked"
    assert 1 <= int(locked.headers["Retry-After"]) <= admin.cfg.admin.lockout_s
    assert await login_from(admin, "10.2.2.2", "support", PASSWORD) == 200


async def test_a_password_spray_from_one_address_is_stopped(admin: Admin) -> None:
    """Guesses over many users from one address: past max_failed_logins_per_ip that
    address gets 429 for every login, right passwords included; other addresses don't."""
    limit = admin.cfg.admin.max_failed_logins_per_ip
    users = [f"user{n}" for n in range(20)]
    codes = [
        await login_from(admin, "10.6.6.6", users[n % len(users)], "spray-pass-1")
        for n in range(limit + 5)
    ]
    assert codes == [401] * limit + [429] * 5
    assert await login_from(admin, "10.6.6.6", "finance", PASSWORD) == 429
    assert await login_from(admin, "10.7.7.7", "finance", PASSWORD) == 200


async def test_guesses_from_many_addresses_lock_the_user_until_a_reset(admin: Admin) -> None:
    """One login guessed from many addresses (each within its own allowance) is locked
    everywhere after max_failed_logins_per_user; its owner unlocks it with an SMS code."""
    cfg = admin.cfg.admin
    per_address = cfg.max_failed_logins
    for n in range(cfg.max_failed_logins_per_user):
        ip = f"10.9.{n // per_address}.1"
        assert await login_from(admin, ip, "finance", f"guess-{n}-x") == 401
    assert await login_from(admin, "10.200.0.1", "finance", PASSWORD) == 423
    await admin.http.post(
        "/v1/auth/password-reset/request", json={"username": "finance"}, headers=at("10.200.0.1")
    )
    body = await last_sms(admin)
    code = re.search(r"code is ([0-9]{6})", body).group(1)  # type: ignore[union-attr]
    r = await admin.http.post(
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": code, "new_password": "after-reset-9"},
        headers=at("10.200.0.1"),
    )
    assert r.status_code == 200, r.text
    assert await login_from(admin, "10.200.0.1", "finance", "after-reset-9") == 200


async def test_tokens_expire_and_logout_revokes(admin: Admin) -> None:
    assert (await admin.call("auditor", "GET", "/v1/me")).status_code == 200
    await admin.sw.db.execute("UPDATE user_tokens SET expires_at = now() - interval '1 second'")
    r = await admin.call("auditor", "GET", "/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    token = await admin.login("auditor")
    assert (await admin.call("auditor", "POST", "/v1/auth/logout")).status_code == 200
    assert (
        await admin.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401


async def test_password_reset_by_sms_code(admin: Admin) -> None:
    quiet = await admin.http.post("/v1/auth/password-reset/request", json={"username": "nobody"})
    asked = await admin.http.post("/v1/auth/password-reset/request", json={"username": "finance"})
    assert quiet.status_code == asked.status_code == 202 and quiet.json() == asked.json()
    body = await last_sms(admin)
    code = re.search(r"code is ([0-9]{6})", body).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    bad = await admin.http.post(
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": wrong, "new_password": "brand-new-pass-7"},
    )
    assert bad.status_code == 401
    weak = await admin.http.post(
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": code, "new_password": "short"},
    )
    assert weak.status_code == 422 and "new_password" in weak.json()["error"]["fields"]
    ok = await admin.http.post(
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": code, "new_password": "brand-new-pass-7"},
    )
    assert ok.status_code == 200
    # The old session is revoked, the code cannot be used twice, the new password works.
    assert (await admin.call("finance", "GET", "/v1/me")).status_code == 401
    again = await admin.http.post(
        "/v1/auth/password-reset/confirm",
        json={"username": "finance", "code": code, "new_password": "another-pass-8"},
    )
    assert again.status_code == 401
    await admin.login("finance", "brand-new-pass-7")


async def test_reset_codes_are_bounded_per_user_and_hour(admin: Admin) -> None:
    """Each code allows a few guesses: without a bound, a stream of requests would make
    the 6-digit code guessable and flood the user's phone. Past the bound the answer
    is the same as ever (no probing), and nothing is sent."""
    answers = [
        await admin.http.post("/v1/auth/password-reset/request", json={"username": "support"})
        for _ in range(admin.cfg.admin.max_resets_per_hour + 2)
    ]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    sent = await admin.sw.db.fetchval(
        "SELECT count(*) FROM sms_outbox WHERE body LIKE '%reset code%' AND mobile = $1", MOBILE
    )
    assert sent == admin.cfg.admin.max_resets_per_hour == 3
    # Another user is not held back by this one's requests.
    await admin.http.post("/v1/auth/password-reset/request", json={"username": "auditor"})
    codes = await admin.sw.db.fetchval("SELECT count(*) FROM password_resets")
    assert codes == 4


async def test_change_own_password(admin: Admin) -> None:
    r = await admin.call(
        "support",
        "POST",
        "/v1/auth/password",
        json={"old_password": "wrong-one-1", "new_password": "next-password-2"},
    )
    assert r.status_code == 401
    r = await admin.call(
        "support",
        "POST",
        "/v1/auth/password",
        json={"old_password": PASSWORD, "new_password": "next-password-2"},
    )
    assert r.status_code == 200
    await admin.login("support", "next-password-2")


async def test_a_burst_of_guesses_gets_only_the_allowed_checks(admin: Admin) -> None:
    """Twenty wrong passwords at once from one address: exactly max_failed_logins are
    checked (401), the rest find the login locked (423); before, 7-19 were checked."""
    import trio

    codes: list[int] = []

    async def guess(n: int) -> None:
        body = {"username": "support", "password": f"wrong-{n}"}
        codes.append((await admin.http.post("/v1/auth/login", json=body)).status_code)

    async with trio.open_nursery() as nursery:
        for n in range(20):
            nursery.start_soon(guess, n)
    assert codes.count(401) == admin.cfg.admin.max_failed_logins
    assert codes.count(423) == 20 - admin.cfg.admin.max_failed_logins


async def test_a_burst_of_reset_codes_gets_only_the_allowed_checks(admin: Admin) -> None:
    """Twenty guesses of one reset code at once, the right one among them last: at most
    RESET_TRIES are checked, so the right code, coming after them, no longer works."""
    import trio

    from switch.admin.auth import RESET_TRIES

    await admin.http.post("/v1/auth/password-reset/request", json={"username": "finance"})
    body = await last_sms(admin)
    code = re.search(r"code is ([0-9]{6})", body).group(1)  # type: ignore[union-attr]
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 20)]
    answers: list[int] = []

    async def confirm(guess: str) -> None:
        r = await admin.http.post(
            "/v1/auth/password-reset/confirm",
            json={"username": "finance", "code": guess, "new_password": "brand-new-pass-7"},
        )
        answers.append(r.status_code)

    async with trio.open_nursery() as nursery:
        for guess in wrong:
            nursery.start_soon(confirm, guess)
    attempts = await admin.sw.db.fetchval("SELECT attempts FROM password_resets")
    assert attempts == RESET_TRIES and answers == [401] * len(wrong)
    await confirm(code)
    assert answers[-1] == 401  # the code's checks are used up
