"""What each answer of the admin API holds, for its OpenAPI spec.

These models document the bodies; the routes still build them as dicts (the same
rows the pages read), and ``tests/admin/test_fuzz_api.py`` checks every answer the
fuzzer gets against the spec, so a field added to a row but not here fails there.
Each model forbids fields it does not name (``additionalProperties: false``). Times
are ISO 8601 strings with their offset; money is integer paise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

T = TypeVar("T")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(Answer, Generic[T]):
    items: list[T]
    next: int | None = Field(description="pass as `after` (or `before`) for the next page")


class Status(Answer):
    status: str


class Me(Answer):
    username: str
    role: str
    agent_id: str | None


class Login(Answer):
    token: str
    expires_at: dt.datetime
    role: str
    agent_id: str | None


class User(Answer):
    id: int
    username: str
    role: str
    agent_id: str | None
    circle_id: str | None = Field(description="a payer's staff member of one circle")
    mobile: str
    disabled: bool
    created_at: dt.datetime


class Agent(Answer):
    """An agent with its KYC (PAN and bank account masked for the roles that may not
    see them whole)."""

    id: str
    name: str
    mobile: str
    fps_id: str
    state: str
    region: str
    district: str
    created_at: dt.datetime
    email: str | None
    date_of_birth: dt.date | None
    pan: str | None
    gstin: str | None
    bank_account: str | None
    ifsc: str | None
    residential_address: str | None
    shop_address: str | None
    submitted_by: str | None
    submitted_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    review_note: str | None
    reviewed_by: str | None
    reviewed_at: dt.datetime | None


class ActivatedAgent(Agent):
    login: str = Field(description="the agent's username; its password went by SMS")


class Document(Answer):
    id: int
    agent_id: str
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: dt.datetime


class Documents(Answer):
    items: list[Document]


class Limits(Answer):
    agent_id: str
    max_balance_paise: int
    per_txn_paise: int
    per_day_paise: int
    frozen: bool
    own_limits: bool = Field(description="false: the configured defaults apply")


class Wallet(Limits):
    balance_paise: int


class TopUp(Answer):
    agent_id: str
    transfer_id: int
    amount_paise: int
    bank_ref: str
    replayed: bool = Field(description="true: this bank reference was used before; nothing moved")
    balance_paise: int


class Movement(Answer):
    id: int = Field(description="the ledger transfer")
    leg: str
    at: dt.datetime
    reference: str
    amount_paise: int = Field(description="into the wallet (negative: out of it)")


class Statement(Page[Movement]):
    archived_months: list[str]


class Terminal(Answer):
    id: str
    agent_id: str
    state: str
    language: str = Field(description="of the SMS its pays send: en or hi")
    created_at: dt.datetime
    last_seen_at: dt.datetime | None


class CredentialsFile(Answer):
    terminal_id: str
    agent_id: str
    private_key: str
    switch_public_key: str
    address: str


class TerminalWithCredentials(Terminal):
    credentials: CredentialsFile = Field(description="shown once: the key is not kept")


class Complaint(Answer):
    id: int
    kind: str
    category: str
    pay_id: int | None
    agent_id: str | None
    description: str
    state: str
    raised_by: str
    assigned_to: str | None
    escalations: int
    due_at: dt.datetime
    resolution: str | None
    refund_paise: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    linked_to: int | None
    write_off: bool
    partner_ref: str | None = Field(description="a partner's Idempotency-Key, if it raised it")
    legacy_ref: str | None = Field(
        None, description="the old system's reference of a complaint imported from it"
    )


class ComplaintEvent(Answer):
    id: int
    complaint_id: int
    at: dt.datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None


class ComplaintWithHistory(Complaint):
    history: list[ComplaintEvent]


class Transaction(Answer):
    txn_id: int
    biller_txn_id: str | None
    terminal_id: str
    terminal_ref: str
    agent_id: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    state: str
    error_code: str | None
    channel: str = Field(description="how it came in: terminal or partner")
    created_at: dt.datetime
    updated_at: dt.datetime


class Transactions(Page[Transaction]):
    archived_months: list[str] = Field(description="months of the range archived: not searched")


class Sms(Answer):
    state: str
    attempts: int
    sent_at: dt.datetime | None


class ComplaintRef(Answer):
    id: int
    state: str
    category: str


class TransactionStory(Transaction):
    sms: list[Sms]
    complaints: list[ComplaintRef]


class StatementAgent(Answer):
    id: str
    name: str
    region: str
    district: str
    state: str


class StatementSummary(Answer):
    pays: int
    posted: int
    failed: int
    pending: int
    amount_posted_paise: int
    commission_paise: int
    truncated: bool


class StatementPayment(Answer):
    switch_txn_id: int
    biller_txn_id: str | None
    terminal_id: str
    terminal_ref: str
    biller_id: str
    consumer_account: str
    amount_paise: int
    state: str
    error_code: str | None
    paid_at: str = Field(description="IST, ISO 8601")
    commission_paise: int
    commission_settled: bool


class AgentStatement(Answer):
    agent: StatementAgent
    from_: dt.date = Field(alias="from")
    to: dt.date
    summary: StatementSummary
    payments: list[StatementPayment]
    archived_months: list[str]


class Totals(Answer):
    by: list[str]
    from_: dt.date = Field(alias="from")
    to: dt.date
    rows: list[dict[str, Any]] = Field(
        description="one per group: its `by` columns, pays, posted, failed, pending, "
        "amount_posted_paise, commission_paise"
    )
    archived_months: list[str]


class OpenWindow(Answer):
    biller_id: str
    business_date: dt.date
    starts_at: dt.datetime
    cutoff_at: dt.datetime
    posted: int
    posted_paise: int
    in_flight: int
    due_unsettled: list[dt.date]


class SettlementRuns(Answer):
    settled: int
    waiting_on_pays_in_flight: int
    reconciliations_put_off: int
    failed: int
    last_error: str | None


class SettlementOpen(Answer):
    now: dt.datetime
    billers: list[OpenWindow]
    runs: SettlementRuns


class Window(Answer):
    id: int
    biller_id: str
    business_date: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str
    pay_count: int
    gross_paise: int
    adjust_in_paise: int
    commission_paise: int
    fee_paise: int
    recovered_paise: int
    net_paise: int
    closed_at: dt.datetime
    settled_at: dt.datetime | None
    file_sha256: str | None


class Settled(Answer):
    settled: list[Window]


class Case(Answer):
    id: int
    kind: str
    pay_id: int | None
    biller_id: str
    amount_paise: int | None
    detail: str
    suggested_action: str
    state: str
    created_at: dt.datetime
    business_date: dt.date | None
    biller_txn_id: str | None
    biller_amount_paise: int | None
    resolution: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    note: str | None


class Money(Answer):
    refund_paise: int
    fee_returned_paise: int
    commission_withheld_paise: int
    charge_paise: int
    commission_paid_paise: int
    fee_paid_paise: int
    adjustment_kind: str | None
    adjustment_paise: int
    wallet_change_paise: int


class ResolvedCase(Case):
    money: Money


class Reconciled(Answer):
    biller_id: str
    business_date: dt.date
    matched: int
    breaks: int
    new_cases: int


class ReconRuns(Answer):
    reconciled: list[Reconciled]


class AuditEntry(Answer):
    id: int
    at: dt.datetime
    actor: str
    action: str
    object_kind: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class BillerState(Answer):
    id: str
    name: str
    breaker_state: str | None
    breaker_opened: int
    busy_refusals: int
    breaker_refusals: int


class Billers(Answer):
    items: list[BillerState]


class CatalogueParam(Answer):
    name: str
    label_en: str
    label_hi: str
    regex: str
    required: bool


class CatalogueAmount(Answer):
    rule: str  # exact | partial | advance
    min_paise: int
    advance_cap_paise: int


class CatalogueEntry(Answer):
    id: str
    name: str
    category: str
    region: str
    params: list[CatalogueParam]
    fetch_required: bool
    amount: CatalogueAmount
    channels: list[str]


class Catalogue(Answer):
    version: str
    billers: list[CatalogueEntry]


class PartnerKeyState(Answer):
    key_id: str
    state: str = Field(description="active or revoked")
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewPartnerKey(Answer):
    key_id: str
    partner_id: str
    private_key_b64: str = Field(description="the Ed25519 private key, raw: shown only here")
    public_key_b64: str


class Partner(Answer):
    id: str
    name: str
    mobile: str
    institution: str
    state: str
    wallet_account_id: int
    created_at: dt.datetime


class NewPartner(Partner):
    key: NewPartnerKey


class PartnerWithKeys(Partner):
    balance_paise: int
    keys: list[PartnerKeyState]


class Partners(Answer):
    items: list[PartnerWithKeys]


class RevokedKey(Answer):
    key_id: str
    partner_id: str
    state: str
    created_at: dt.datetime
    revoked_at: dt.datetime


# Each operation's success: (status, body). CSV and PNG answers keep their own content.
ANSWERS: dict[tuple[str, str], tuple[int, type[BaseModel]]] = {
    ("POST", "/v1/auth/login"): (200, Login),
    ("POST", "/v1/auth/logout"): (200, Status),
    ("GET", "/v1/me"): (200, Me),
    ("POST", "/v1/auth/password"): (200, Status),
    ("POST", "/v1/auth/password-reset/request"): (202, Status),
    ("POST", "/v1/auth/password-reset/confirm"): (200, Status),
    ("POST", "/v1/users"): (201, User),
    ("GET", "/v1/users"): (200, Page[User]),
    ("PATCH", "/v1/users/{username}"): (200, User),
    ("POST", "/v1/agents"): (201, Agent),
    ("GET", "/v1/agents"): (200, Page[Agent]),
    ("GET", "/v1/agents/{agent_id}"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/documents"): (201, Document),
    ("GET", "/v1/agents/{agent_id}/documents"): (200, Documents),
    ("POST", "/v1/agents/{agent_id}/approve"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/reject"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/send-back"): (200, Agent),
    ("PUT", "/v1/agents/{agent_id}/kyc"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/activate"): (200, ActivatedAgent),
    ("POST", "/v1/agents/{agent_id}/block"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/unblock"): (200, Agent),
    ("POST", "/v1/agents/{agent_id}/close"): (200, Agent),
    ("GET", "/v1/agents/{agent_id}/wallet"): (200, Wallet),
    ("POST", "/v1/agents/{agent_id}/wallet/topups"): (201, TopUp),
    ("GET", "/v1/agents/{agent_id}/wallet/statement"): (200, Statement),
    ("PUT", "/v1/agents/{agent_id}/wallet/limits"): (200, Limits),
    ("POST", "/v1/agents/{agent_id}/wallet/freeze"): (200, Limits),
    ("POST", "/v1/agents/{agent_id}/wallet/unfreeze"): (200, Limits),
    ("POST", "/v1/agents/{agent_id}/terminals"): (201, TerminalWithCredentials),
    ("GET", "/v1/terminals"): (200, Page[Terminal]),
    ("POST", "/v1/terminals/{terminal_id}/block"): (200, Terminal),
    ("POST", "/v1/terminals/{terminal_id}/unblock"): (200, Terminal),
    ("POST", "/v1/terminals/{terminal_id}/rotate-key"): (200, TerminalWithCredentials),
    ("POST", "/v1/terminals/{terminal_id}/language"): (200, Terminal),
    ("POST", "/v1/complaints"): (201, Complaint),
    ("GET", "/v1/complaints"): (200, Page[Complaint]),
    ("GET", "/v1/complaints/{complaint_id}"): (200, ComplaintWithHistory),
    ("POST", "/v1/complaints/{complaint_id}/assign"): (200, Complaint),
    ("POST", "/v1/complaints/{complaint_id}/escalate"): (200, Complaint),
    ("POST", "/v1/complaints/{complaint_id}/resolve"): (200, Complaint),
    ("POST", "/v1/complaints/{complaint_id}/close"): (200, Complaint),
    ("GET", "/v1/transactions"): (200, Transactions),
    ("GET", "/v1/transactions/{txn_id}"): (200, TransactionStory),
    ("GET", "/v1/reports/statement"): (200, AgentStatement),
    ("GET", "/v1/reports/totals"): (200, Totals),
    ("GET", "/v1/settlement/open"): (200, SettlementOpen),
    ("GET", "/v1/settlement/windows"): (200, Page[Window]),
    ("POST", "/v1/settlement/close"): (200, Settled),
    ("GET", "/v1/recon/cases"): (200, Page[Case]),
    ("GET", "/v1/recon/cases/{case_id}"): (200, Case),
    ("POST", "/v1/recon/cases/{case_id}/resolve"): (200, ResolvedCase),
    ("POST", "/v1/recon/run"): (200, ReconRuns),
    ("GET", "/v1/audit"): (200, Page[AuditEntry]),
    ("GET", "/v1/billers"): (200, Billers),
    ("GET", "/v1/catalogue"): (200, Catalogue),
    ("POST", "/v1/partners"): (201, NewPartner),
    ("GET", "/v1/partners"): (200, Partners),
    ("POST", "/v1/partners/{partner_id}/keys"): (201, NewPartnerKey),
    ("POST", "/v1/partners/{partner_id}/keys/{key_id}/revoke"): (200, RevokedKey),
}


def _link_answers() -> dict[tuple[str, str], tuple[int, type[BaseModel]]]:
    from switch.admin.link_answers import answers  # it builds on the models above

    return dict(answers(Page))


def _import_answers() -> dict[tuple[str, str], tuple[int, type[BaseModel]]]:
    from switch.admin.import_answers import answers

    return dict(answers(Page))


def _bulk_answers() -> dict[tuple[str, str], tuple[int, type[BaseModel]]]:
    from switch.admin.bulk_answers import answers

    return dict(answers(Page))


ANSWERS |= _link_answers() | _import_answers() | _bulk_answers()
# Routes whose answers tests/bulk/ checks against the spec (they need the ERP).
BULK_ROUTES = set(_bulk_answers())
# Routes whose answers tests/links/ checks against the spec (they need the gateway).
LINK_ROUTES = set(_link_answers())


def document_answers(schema: dict[str, Any]) -> None:
    """Put each operation's success body (``ANSWERS``) into a generated spec."""
    models = sorted({m for _, m in ANSWERS.values()}, key=lambda m: m.__name__)
    refs, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    for (method, path), (status, model) in ANSWERS.items():
        operation = schema["paths"][path][method.lower()]
        answer = operation["responses"].setdefault(str(status), {"description": "done"})
        content = answer.setdefault("content", {})
        content["application/json"] = {"schema": refs[(model, "serialization")]}
