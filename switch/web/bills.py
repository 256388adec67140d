"""``/office/bills``: a payer's bills for its staff (and the switch's staff who may
read them): the queue of the caller's own step, each bill's checks at a glance, and
bulk decisions (approve, send back, not to pay, resubmit, cancel) on the bills ticked;
``/office/bills/{id}``: one bill's figures, docket and milestones. The decisions are
the API's own (switch/bulk/store.py: each bill's step from its stored state, under its
lock, by the caller's role)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from switch.admin.auth import Principal
from switch.admin.common import deps_of
from switch.admin.errors import ApiError
from switch.admin.roles import PAYER_ROLES, PERMISSIONS
from switch.bulk import store
from switch.web import session
from switch.web.forms import paise_from_rupees
from switch.web.staff import page, staff

router = APIRouter(prefix="/office", include_in_schema=False)
STATES = {
    "site_incharge": "at the site in-charge",
    "dgm_f": "at DGM (F)",
    "circle_l1": "at Circle Nodal L1",
    "erp": "with the ERP",
    "invoice_failure": "invoice failure (IF)",
    "liability_failure": "liability failure (LF)",
    "liability": "liability booked",
    "paying": "being paid",
    "paid": "paid",
    "not_to_pay": "not to pay",
    "cancelled": "cancelled",
}
QUEUE_OF = {"site_incharge": "site_incharge", "dgm_f": "dgm_f", "circle_nodal": "circle_l1"}
ACTIONS = {
    "approve": "Approve",
    "send_back": "Send back",
    "not_to_pay": "Not to pay",
    "resubmit": "Resubmit to the ERP",
    "cancel": "Cancel",
}


async def _payer_of(request: Request, who: Principal, asked: str | None) -> str | None:
    """The payer whose bills are shown: a payer's staff see their own only."""
    if who.role in PAYER_ROLES:
        return who.agent_id
    if asked:
        row = await deps_of(request).db.fetchrow(
            "SELECT id FROM agents WHERE id = $1 AND kind = 'payer'", asked
        )
        if row is None:
            raise ApiError("not_found", f"no payer {asked}")
    return asked


@router.get("/bills")
async def bills_page(request: Request) -> Response:
    who = await staff(request, "bulk.read")
    query = dict(request.query_params)
    payer = await _payer_of(request, who, query.get("payer"))
    state = query.get("state") or QUEUE_OF.get(who.role, "site_incharge")
    if state not in STATES:
        state = "site_incharge"
    db = deps_of(request).read_db
    payers = await db.fetch("SELECT id, name FROM agents WHERE kind = 'payer' ORDER BY id")
    rows = await store.bills(db, payer, state, circle=who.circle_id) if payer else []
    return page(
        request,
        "office/bills.html",
        who,
        payer=payer,
        payers=[] if who.role in PAYER_ROLES else payers,
        state=state,
        states=STATES,
        actions=ACTIONS,
        bills=rows,
        decides=who.role in PERMISSIONS["bulk.decide"],
        said=query.get("said"),
    )


@router.post("/bills")
async def decide(request: Request) -> Response:
    who = await staff(request, "bulk.decide")
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf", "")))
    action = str(form.get("action", ""))
    state = str(form.get("state", ""))
    ids = [int(v) for v in form.getlist("bill") if isinstance(v, str) and v.isdigit()]
    reason = str(form.get("reason", "")).strip()[:500] or None
    amount = str(form.get("approved_rupees", "")).strip()
    state = state if state in STATES else "site_incharge"
    if action not in ACTIONS or not ids or who.agent_id is None:
        return _back(state, "tick bills and choose what to do")
    back_to = str(form.get("back_to") or "") or None
    try:
        approved = paise_from_rupees(amount) if amount else None
    except ValueError as exc:  # never approved as it stood when another amount was meant
        return _back(state, f"approved amount: {exc}")
    d = store.Decision(action, who.role, who.username, reason, back_to, approved,
                       circle_id=who.circle_id)  # fmt: skip
    said = await store.decide(deps_of(request).db, who.agent_id, ids[:5000], d)
    done = sum(1 for v in said.values() if v == "ok")
    refused = sorted({v.partition(":")[2].strip() for v in said.values() if v != "ok"})
    why = f"; {len(said) - done} refused: {'; '.join(refused)}" if refused else ""
    return _back(state, f"{done} done{why}")


def _back(state: str, said: str) -> Response:
    query = urlencode({"state": state, "said": said[:400]})
    return RedirectResponse(f"/office/bills?{query}", status_code=303)


@router.get("/bills/{bill_id}")
async def bill_page(request: Request, bill_id: int) -> Response:
    who = await staff(request, "bulk.read")
    db = deps_of(request).read_db
    owner = await db.fetchval("SELECT payer_id FROM site_bills WHERE id = $1", bill_id)
    if owner is None or (who.role in PAYER_ROLES and owner != who.agent_id):
        raise ApiError("not_found", f"no bill {bill_id}")
    found = await store.bills(db, owner, bill_id=bill_id, circle=who.circle_id)
    if not found:
        raise ApiError("not_found", f"no bill {bill_id}")
    [bill] = found
    docket = await db.fetchrow("SELECT * FROM bill_dockets WHERE bill_id = $1", bill_id)
    story: dict[str, Any] = {
        "docket": None if docket is None else store.shown_docket(docket),
        "milestones": await store.milestones(db, bill_id),
    }
    return page(request, "office/bill.html", who, b=bill, states=STATES, **story)
