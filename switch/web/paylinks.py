"""``/l/<link>-<tag>``: the page a payment link's SMS opens, on the consumer's phone.

The consumer has no login: the signed code in the address is the permission (a
code that is not the switch's is "not found", whatever it names). The page shows the
bill the link was made for and, while the link is open, a form for the consumer's
UPI address; paying starts an order (``switch/links/``) and the page then follows it,
refreshing itself, until the bill is paid or the money is on its way back. No form
here needs a CSRF token of its own: a forged post would need the link's code, and
the code is the permission.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.links import store
from switch.links.service import LinkService
from switch.pays.service import RequestFailed
from switch.web.consumer_session import CONSUMER_PORTAL, page_language
from switch.web.templating import render
from switch.web.templating import translate as _

router = APIRouter(prefix="/l", include_in_schema=False)
VPA_RE = re.compile(r"[A-Za-z0-9._-]{2,40}@[A-Za-z][A-Za-z0-9]{1,19}")


def _service(request: Request) -> LinkService:
    deps = deps_of(request)
    if deps.links is None and deps.cfg.gateway.enabled:  # starting: serving before they do
        raise ApiError("unavailable", _("The biller cannot be reached just now. Try again soon."))
    if deps.links is None:
        raise ApiError("not_found", _("Payment links are not offered here."))
    return deps.links


async def _link(request: Request, code: str) -> asyncpg.Record:
    links = _service(request)
    link_id = links.links.read(code) if len(code) <= 40 else None
    link = await store.link_by_id(deps_of(request).db, link_id) if link_id else None
    if link is None:
        raise ApiError("not_found", _("This link is not valid. Check the link in your SMS."))
    page_language(request, link["language"])
    return link


def _page(
    request: Request, code: str, link: asyncpg.Record, orders: list[Any], **extra: Any
) -> HTMLResponse:
    order = orders[-1] if orders else None
    expired = link["state"] == "expired" or (link["past_expiry"] and link["state"] == "open")
    # An expired link still shows an order that took money (its outcome is the payer's).
    moneyless = order is None or order["state"] == "failed"
    if expired and link["state"] != "paid" and moneyless:
        raise ApiError("gone", _("This payment link has expired. Ask the biller for a new one."))
    paid = [o for o in orders if o["state"] == "paid"]
    receipts = deps_of(request).receipt_links
    receipt_url = receipts.url(paid[0]["pay_id"]) if paid and receipts else None
    waiting = order is not None and order["state"] in ("created", "pending", "collected", "paying")
    payable = link["state"] == "open" and not link["past_expiry"] and not waiting
    html = render(
        "consumer/link.html",
        portal=CONSUMER_PORTAL,
        who=None,
        link=link,
        order=order,
        code=code,
        waiting=waiting,
        payable=payable,
        receipt_url=receipt_url,
        path=request.url.path,
        **extra,
    )
    return HTMLResponse(html, status_code=422 if extra.get("problem") else 200)


@router.get("/{code}")
async def show(request: Request, code: str) -> Response:
    link = await _link(request, code)
    orders = await store.orders_of(deps_of(request).db, link["id"])
    return _page(request, code, link, orders)


@router.post("/{code}/pay")
async def pay(request: Request, code: str) -> Response:
    link = await _link(request, code)
    db = deps_of(request).db
    if link["state"] != "open" or link["past_expiry"]:  # paid, or expired: the page says
        return _page(request, code, link, await store.orders_of(db, link["id"]))
    vpa = str((await request.form()).get("vpa", "")).strip()
    if not VPA_RE.fullmatch(vpa):
        orders = await store.orders_of(db, link["id"])
        problem = _("A UPI ID looks like name@bank.")
        return _page(request, code, link, orders, problem=problem, vpa=vpa)
    try:
        await _service(request).begin(link["id"], vpa)
    except store.LinkRefused as exc:
        if exc.code in ("link_paid", "link_expired"):
            return RedirectResponse(f"/l/{code}", status_code=303)
        problem = _("This bill has changed since the link was sent. Ask for a new link.")
        return _page(request, code, link, await store.orders_of(db, link["id"]), problem=problem)
    except RequestFailed:
        problem = _("The biller cannot be reached just now. Nothing was taken; try again soon.")
        return _page(request, code, link, await store.orders_of(db, link["id"]), problem=problem)
    return RedirectResponse(f"/l/{code}", status_code=303)
