"""What institutional bill payment's routes answer, for the admin API's spec (as
answers.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from switch.admin.answers import Answer, User


class Payer(Answer):
    id: str
    name: str
    mobile: str
    state: str


class Payers(Answer):
    payers: list[Payer]


class Circle(Answer):
    payer_id: str
    id: str
    name: str


class Site(Answer):
    id: int
    payer_id: str
    circle_id: str
    site_code: str
    name: str
    biller_id: str
    consumer_account: str
    meter_no: str
    cost_centre: str
    vendor_code: str
    category: str = Field(description="the discom's tariff category")
    pay_category: str = Field(description="gold, silver, bronze or z")
    sanctioned_load_kw: str = Field(description="a decimal, as text")
    contract_demand_kva: str = Field(description="a decimal, as text")
    created_at: dt.datetime


class Failure(Answer):
    check: str
    says: str


class Checks(Answer):
    failures: list[Failure]
    obv_skipped: str | None = Field(description="why the tariff check did not run")


class Month(Answer):
    units: int
    current_paise: int
    cmr: int | None


class Bill(Answer):
    id: int
    code: str = Field(description="the checks' letter (S, D, U, A) and the bill's id")
    site_id: int
    site_code: str
    circle_id: str
    pay_category: str
    biller_id: str
    consumer_account: str
    payer_id: str
    bill_no: str
    bill_date: dt.date
    due_date: dt.date
    omr: int | None
    cmr: int | None
    units: int
    multiplying_factor: int
    billing_type: str
    meter_status: str
    billing_days: int | None
    current_paise: int
    arrears_paise: int
    taxes_paise: int
    meter_rent_paise: int
    surcharge_paise: int
    tcs_paise: int
    gross_paise: int
    dynamic: dict[str, str]
    history: list[Month]
    source: str
    multiple_invoice: bool
    letter: str
    checks: Checks
    tariff_gross_paise: int | None
    state: str
    approved_paise: int | None
    tds_paise: int | None
    net_payable_paise: int | None
    liability_doc: str | None
    pay_id: int | None
    last_reason: str | None
    received_at: dt.datetime
    updated_at: dt.datetime


class Bills(Answer):
    bills: list[Bill]


class Docket(Answer):
    failures: list[Failure]
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: str | None


class Milestone(Answer):
    milestone: str
    actor: str
    note: str | None
    at: dt.datetime


class BillStory(Bill):
    docket: Docket | None
    milestones: list[Milestone]


class Rejection(Answer):
    line: int
    column: str
    reason: str


class Intake(Answer):
    taken_in: int
    already_in: int
    by_letter: dict[str, int]
    multiple_invoices: int
    refused: str | None = Field(description="why the whole file was refused, if it was")
    rejections: list[Rejection]


class FetchRound(Answer):
    sites: int
    fetched: int
    taken_in: int
    already_in: int
    by_letter: dict[str, int]
    multiple_invoices: int
    not_fetched: dict[str, str] = Field(description="site code: why its bill was not fetched")


class DecisionResult(Answer):
    bill_id: int
    result: str = Field(description='"ok", or why not ("wrong_state: ...")')


class Decisions(Answer):
    done: int
    refused: int
    results: list[DecisionResult]


class ErpRound(Answer):
    outcomes: dict[str, int] = Field(description="bills by what the ERP said")


class RunItem(Answer):
    bill_id: int
    position: int
    amount_paise: int
    outcome: str = Field(description="to_pay, paid, failed or deferred")
    reason: str | None
    pay_id: int | None


class RunOutcome(Answer):
    bills: int
    paise: int


class Run(Answer):
    run: int
    payer_id: str
    state: str
    funds_paise: int
    outcomes: dict[str, RunOutcome]
    paid_paise: int
    items: list[RunItem]


class MisRow(Answer):
    key: str | None
    bills: int
    all_passed: int
    dockets: int
    gross_paise: int
    approved_paise: int
    paid_paise: int
    saved_paise: int


class Mis(Answer):
    by: str
    rows: list[MisRow]


P = "/v1/payers/{payer_id}"


def answers(page: Any) -> dict[tuple[str, str], tuple[int, type[Answer]]]:
    del page  # no paged answers here
    return {
        ("POST", "/v1/payers"): (201, Payer),
        ("GET", "/v1/payers"): (200, Payers),
        ("POST", f"{P}/circles"): (201, Circle),
        ("POST", f"{P}/sites"): (201, Site),
        ("POST", f"{P}/users"): (201, User),
        ("POST", f"{P}/bills"): (201, Intake),
        ("GET", f"{P}/bills"): (200, Bills),
        ("GET", f"{P}/bills/{{bill_id}}"): (200, BillStory),
        ("POST", f"{P}/bills/decisions"): (200, Decisions),
        ("POST", f"{P}/fetches"): (200, FetchRound),
        ("GET", f"{P}/mis"): (200, Mis),
        ("POST", f"{P}/erp"): (200, ErpRound),
        ("POST", f"{P}/runs"): (202, Run),
        ("GET", f"{P}/runs/{{run_id}}"): (200, Run),
    }
