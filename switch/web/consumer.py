"""``/me``: a consumer's own pages, on a phone, in English or Hindi.

Sign-in: the biller, the account number and a mobile; a one-time code by SMS
(``switch/consumers/access.py`` holds the rules: known mobiles only, hourly limits,
bounded guesses). Then, for that account only: the current bill (fetched live), the
payments made through the switch with their state and receipts, the complaints about
them with their turnaround, a form to raise one, and the consumer's language for
their SMS. Every form of a signed-in consumer carries a token bound to the session.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from switch.admin.common import client_ip, deps_of
from switch.admin.errors import ApiError
from switch.config import ACCOUNT_PARAM
from switch.consumers import account as acct
from switch.consumers.access import Check, CodeSent, ConsumerAccess, ConsumerSession
from switch.pays.service import RequestFailed, TerminalContext
from switch.protocols.terminal.requests import FetchBill
from switch.web.consumer_session import CONSUMER_PORTAL, page_language
from switch.web.templating import LANG_COOKIE, LANGUAGES, render
from switch.web.templating import translate as _

router = APIRouter(prefix="/me", include_in_schema=False)
SESSION_COOKIE = "switch_consumer"
PENDING_COOKIE = "switch_consumer_pending"
FETCH_CONTEXT = TerminalContext("consumer", "consumer", 0, "link")  # a fetch moves nothing


def _access(request: Request) -> ConsumerAccess:
    access = deps_of(request).consumers
    if access is None:
        raise ApiError("not_found", _("The consumer pages are not offered here."))
    return access


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = page_language(request)
    html = render(template, portal=CONSUMER_PORTAL, who=None, path=request.url.path, **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _cookie(request: Request, response: Response, name: str, value: str, ttl_s: float) -> Response:
    secure = deps_of(request).cfg.admin.secure_cookies
    response.set_cookie(
        name, value, max_age=int(ttl_s), httponly=True, samesite="strict", secure=secure, path="/me"
    )
    return response


def _billers(request: Request) -> list[Any]:
    return list(deps_of(request).cfg.billers)


@router.get("/")
async def start(request: Request) -> Response:
    if _access(request).session(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse("/me/account", status_code=303)
    return _page(request, "consumer/start.html", billers=_billers(request), form={})


@router.post("/code")
async def ask_code(request: Request) -> Response:
    access = _access(request)
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    billers = {b.id: b for b in _billers(request)}
    problem = _start_problem(form, billers)
    if problem:
        return _again(request, form, 422, problem)
    biller, account, mobile = form["biller"], form["account"], form["mobile"]
    try:
        known = await _known(request, biller, account)
    except RequestFailed as exc:
        problem = (
            _("No such account at this biller.")
            if exc.code.value == "unknown_consumer"
            else _("The biller cannot be reached just now. Try again soon.")
        )
        return _again(request, form, 422, problem)
    lang = page_language(request)
    sent = await access.send_code(biller, account, mobile, known, client_ip(request), lang)
    if sent is CodeSent.TOO_MANY:
        return _again(request, form, 429, _("Too many codes asked for. Try again in an hour."))
    response = RedirectResponse("/me/verify", status_code=303)
    token = access.session_token(biller, account, mobile, purpose="pending")
    return _cookie(request, response, PENDING_COOKIE, token, access.cfg.otp_ttl_s)


def _again(request: Request, form: dict[str, str], status: int, problem: str) -> Response:
    """The start page again, as filled in, with what is wrong."""
    billers = _billers(request)
    return _page(
        request, "consumer/start.html", status, billers=billers, form=form, problem=problem
    )


def _start_problem(form: dict[str, str], billers: dict[str, Any]) -> str:
    biller = billers.get(form.get("biller", ""))
    if biller is None:
        return _("Choose your biller.")
    account_param = biller.params[0] if biller.params else ACCOUNT_PARAM
    if not re.fullmatch(account_param.regex, form.get("account", "")):
        return _("That is not an account number of this biller.")
    mobile = form.get("mobile", "")
    if not (len(mobile) == 10 and mobile.isdigit() and mobile[0] in "6789"):
        return _("A mobile number is 10 digits, starting 6, 7, 8 or 9.")
    return ""


async def _known(request: Request, biller: str, account: str) -> set[str]:
    deps = deps_of(request)
    assert deps.service is not None
    bill = await deps.service.fetch_bill(FETCH_CONTEXT, FetchBill(0, biller, account))
    known = await acct.known_mobiles(deps.db, biller, account)
    return known | ({bill["mobile"]} if bill.get("mobile") else set())


@router.get("/verify")
async def verify_form(request: Request) -> Response:
    pending = _access(request).session(request.cookies.get(PENDING_COOKIE), purpose="pending")
    if pending is None:
        return RedirectResponse("/me/", status_code=303)
    return _page(request, "consumer/verify.html", pending=pending)


@router.post("/verify")
async def verify(request: Request) -> Response:
    access = _access(request)
    pending = access.session(request.cookies.get(PENDING_COOKIE), purpose="pending")
    if pending is None:
        return RedirectResponse("/me/", status_code=303)
    code = str((await request.form()).get("code", ""))
    checked = await access.check_code(pending.biller_id, pending.account, pending.mobile, code)
    if checked.result is Check.WRONG:
        problem = _("That code is not right. Tries left: %(n)s.") % {"n": checked.tries_left}
        return _page(request, "consumer/verify.html", 422, pending=pending, problem=problem)
    if checked.result is Check.SPENT:
        problem = _("This code no longer works. Ask for a new code.")
        return _page(request, "consumer/verify.html", 422, pending=pending, problem=problem,
                     spent=True)  # fmt: skip
    token = access.session_token(pending.biller_id, pending.account, pending.mobile)
    response = RedirectResponse("/me/account", status_code=303)
    response.delete_cookie(PENDING_COOKIE, path="/me")
    return _cookie(request, response, SESSION_COOKIE, token, access.cfg.session_ttl_s)


def _signed_in(request: Request) -> tuple[ConsumerAccess, ConsumerSession, str]:
    access = _access(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    me = access.session(token)
    if me is None:
        raise _SignIn()
    return access, me, access.csrf(token)


class _SignIn(Exception):
    pass


def _check_form(access: ConsumerAccess, request: Request, form: dict[str, str]) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if form.get("csrf") != access.csrf(token):
        raise ApiError("forbidden", _("This form is stale. Open the page again."))


@router.get("/account")
async def account_page(request: Request, notice: str = "") -> Response:
    try:
        _, me, csrf = _signed_in(request)
    except _SignIn:
        return RedirectResponse("/me/", status_code=303)
    return await _account(request, me, csrf, notice=notice)


async def _account(
    request: Request, me: ConsumerSession, csrf: str, status: int = 200, **extra: Any
) -> Response:
    deps = deps_of(request)
    assert deps.service is not None
    try:
        bill: dict[str, Any] | None = await deps.service.fetch_bill(
            FETCH_CONTEXT, FetchBill(0, me.biller_id, me.account)
        )
    except RequestFailed:
        bill = None  # the page says the biller could not be reached
    pays = await acct.pays_of(deps.db, me.biller_id, me.account)
    complaints = await acct.complaints_of(deps.db, me.biller_id, me.account)
    earlier = await acct.legacy_pays_of(deps.db, me.biller_id, me.account)
    receipts = deps.receipt_links
    receipt_urls = {
        p["id"]: receipts.url(p["id"]) for p in pays if receipts and p["state"] == "posted"
    }
    return _page(
        request,
        "consumer/account.html",
        status,
        me=me,
        csrf=csrf,
        bill=bill,
        pays=pays,
        complaints=complaints,
        earlier=earlier,
        receipt_urls=receipt_urls,
        categories=acct.CONSUMER_CATEGORIES,
        **extra,
    )


@router.post("/complaints")
async def complain(request: Request) -> Response:
    try:
        access, me, csrf = _signed_in(request)
    except _SignIn:
        return RedirectResponse("/me/", status_code=303)
    form = {k: str(v) for k, v in (await request.form()).items()}
    _check_form(access, request, form)
    pay_id = int(form["pay_id"]) if form.get("pay_id", "").isdigit() else 0
    try:
        row = await acct.raise_complaint(
            deps_of(request).db, deps_of(request).cfg.admin, me.biller_id, me.account,
            me.mobile, pay_id, form.get("category", ""), form.get("description", ""),
        )  # fmt: skip
    except acct.ComplaintRefused as exc:
        problem = {
            "pay": _("Choose one of your payments."),
            "category": _("Choose what went wrong."),
            "too_many": _("You have too many open complaints. We will answer those first."),
        }[str(exc)]
        return await _account(request, me, csrf, 422, problem=problem)
    return RedirectResponse(f"/me/account?notice=complaint-{row['id']}", status_code=303)


@router.post("/language")
async def language(request: Request) -> Response:
    try:
        access, me, _csrf = _signed_in(request)
    except _SignIn:
        return RedirectResponse("/me/", status_code=303)
    form = {k: str(v) for k, v in (await request.form()).items()}
    _check_form(access, request, form)
    lang = form.get("language", "")
    if lang not in LANGUAGES:
        raise ApiError("invalid_request", "language: en or hi")
    await acct.set_language(deps_of(request).db, me.mobile, lang)
    response = RedirectResponse(f"/me/account?lang={lang}&notice=language", status_code=303)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/me/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/me")
    return response
