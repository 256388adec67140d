"""Schemathesis against the served OpenAPI spec: for every operation, valid and
invalid requests generated from the spec, as an admin. No answer is a 5xx; every
error has the documented shape; every answer's status is declared or an error; and
every body, success or error, is what the spec says (no field it does not name).

Schemathesis is synchronous (requests); it runs in a worker thread while the switch
answers on this test's trio loop.
"""

from __future__ import annotations

import re
from typing import Any

import hypothesis
import schemathesis
import trio
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.admin.conftest import Admin

EXAMPLES_PER_OPERATION = 12
# Operations that would end the fuzzer's own session (tested on their own elsewhere).
OWN_SESSION = {("POST", "/v1/auth/logout"), ("POST", "/v1/auth/password")}


def fuzz(base_url: str, token: str) -> dict[str, Any]:
    schema = schemathesis.openapi.from_url(f"{base_url}/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Any] = {"operations": 0, "requests": 0, "statuses": {}, "problems": []}
    for result in schema.get_all_operations():
        operation = result.ok()
        seen["operations"] += 1
        if (operation.method.upper(), operation.path) in OWN_SESSION:
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            seen["requests"] += 1
            seen["statuses"][response.status_code] = (
                seen["statuses"].get(response.status_code, 0) + 1
            )
            problem = _problem(response)
            try:  # the body is what the spec says it is (answers.py, errors.ERROR_SCHEMA)
                case.validate_response(response, checks=[response_schema_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis: a failure group
                problem = problem or f"{response.status_code}: not as the spec says: {exc}"[:600]
            if problem:
                seen["problems"].append(f"{case.method} {case.formatted_path}: {problem}")

        check()
    return seen


def _problem(response: Any) -> str:
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return f"malformed error body {response.text[:200]!r}"
        if not (
            isinstance(error.get("code"), str)
            and re.fullmatch(r"[a-z_]+", error["code"])
            and isinstance(error.get("message"), str)
        ):
            return f"malformed error {error!r}"
    return ""


async def test_the_api_holds_up_against_its_own_spec(admin: Admin) -> None:
    base = str(admin.http.base_url).rstrip("/")
    seen = await trio.to_thread.run_sync(fuzz, base, admin.tokens["admin"])
    assert seen["problems"] == [], "\n".join(seen["problems"][:20])
    assert seen["operations"] >= 30
    assert seen["requests"] >= seen["operations"] * 3
    assert any(400 <= s < 500 for s in seen["statuses"])  # invalid input was generated
    assert sum(n for s, n in seen["statuses"].items() if s < 300) >= seen["operations"]
    assert seen["statuses"].get(401, 0) < seen["requests"] // 4  # the session held
    print(
        f"schemathesis: {seen['operations']} operations, {seen['requests']} requests, "
        f"statuses {dict(sorted(seen['statuses'].items()))}"
    )
