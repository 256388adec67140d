"""What the pages' forms share: a page rendered with its session's CSRF token, the
API's body models filled from form fields, rupees typed by people turned into paise,
and a range of IST days with the reports' own bounds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from switch.admin.auth import Principal
from switch.admin.roles import PERMISSIONS
from switch.settlement import reports
from switch.settlement.calendar import IST
from switch.web import session
from switch.web.login import Portal
from switch.web.templating import render


def may(who: Principal) -> frozenset[str]:
    """Every permission of the user's role: the pages show only these."""
    return frozenset(p for p, roles in PERMISSIONS.items() if who.role in roles)


def page(
    request: Request, portal: Portal, template: str, who: Principal, **context: Any
) -> HTMLResponse:
    """A signed-in user's page: its forms carry the session's CSRF token."""
    return HTMLResponse(
        render(
            template,
            who=who,
            portal=portal,
            csrf=session.form_csrf(request),
            may=may(who),
            path=request.url.path,
            **context,
        )
    )


def form_body(model: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    """The API's body model from a form's fields (empty fields left out)."""
    return model.model_validate({k: v for k, v in fields.items() if v not in ("", None)})


def paise_from_rupees(text: str) -> int | None:
    """'1,234.50' -> 123450; '' -> None; anything else is a ValueError saying what
    is wanted. Exact: a Decimal, never a float."""
    raw = text.replace(",", "").replace("₹", "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError("rupees, e.g. 1234.50") from None
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("rupees and at most two digits of paise, more than 0")
    return int(value * 100)


def day_range(query: dict[str, str]) -> tuple[dt.date, dt.date, dict[str, str]]:
    """The ``from`` and ``to`` IST days of a form (default: the 30 days to today),
    within the reports' bounds; a field's error by its name."""
    errors: dict[str, str] = {}
    days: list[dt.date | None] = []
    for name in ("from", "to"):
        raw = query.get(name, "").strip()
        try:
            days.append(dt.date.fromisoformat(raw) if raw else None)
        except ValueError:
            errors[name] = "a date: YYYY-MM-DD"
            days.append(None)
    today = dt.datetime.now(IST).date()
    first, last = reports.default_range(days[0], days[1], today)
    try:
        reports.check_range(first, last)
    except reports.ReportError as exc:
        errors[exc.field or "from"] = exc.why or str(exc)
        first, last = reports.default_range(None, None, today)
    return first, last, errors


def one_line(errors: dict[str, str]) -> str:
    """Field errors as one message (for a download, which has no form to show them)."""
    return "; ".join(f"{k}: {v}" for k, v in errors.items())
