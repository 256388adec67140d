"""Request bodies of the admin API, with their rules: FastAPI turns a broken rule into
a field-level ``invalid_request`` (switch/admin/errors.py) and publishes each rule in
the OpenAPI spec."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from switch.admin import kyc
from switch.admin.passwords import check_password

Paise = Annotated[int, Field(gt=0, le=1_000_000_000, description="an amount in paise")]
Password = Annotated[str, Field(min_length=10, max_length=128), AfterValidator(check_password)]
Username = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,39}$")]
Mobile = Annotated[str, Field(min_length=10, max_length=16), AfterValidator(kyc.mobile)]
Email = Annotated[
    str, AfterValidator(kyc.email), WithJsonSchema({"type": "string", "format": "email"})
]
Text = Annotated[str, Field(min_length=1, max_length=300)]
Note = Annotated[str, Field(min_length=1, max_length=2000)]
StaffRole = Literal["onboarding", "finance", "operations", "support", "auditor", "admin"]


class Strict(BaseModel):
    """Every body of the API: unknown fields refused, text stripped, and no NUL in any
    text field (PostgreSQL text cannot hold one): a field error, whatever content type
    the body came with."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL characters are not allowed")
        return value


class LoginIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=40)]
    password: Annotated[str, Field(min_length=1, max_length=128)]


class ResetRequestIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=40)]


class ResetConfirmIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=40)]
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    new_password: Password


class PasswordChangeIn(Strict):
    old_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password


class UserIn(Strict):
    username: Username
    role: StaffRole
    mobile: Mobile
    password: Password


class UserChangeIn(Strict):
    role: StaffRole | None = None
    disabled: bool | None = None


class AgentIn(Strict):
    """An agent's application: who they are, their shop, their bank account."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: Email
    mobile: Mobile
    date_of_birth: Annotated[dt.date, AfterValidator(kyc.adult)]
    pan: Annotated[str, Field(min_length=10, max_length=10), AfterValidator(kyc.pan)]
    fps_id: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(kyc.fps_id)]
    residential_address: Text
    shop_address: Text
    region: Annotated[str, Field(max_length=60)] = ""
    district: Annotated[str, Field(max_length=60)] = ""
    bank_account: Annotated[
        str, Field(min_length=9, max_length=18), AfterValidator(kyc.bank_account)
    ]
    ifsc: Annotated[str, Field(min_length=11, max_length=11), AfterValidator(kyc.ifsc)]
    gstin: Annotated[str, Field(min_length=15, max_length=15), AfterValidator(kyc.gstin)] | None = (
        None
    )


class TopUpIn(Strict):
    amount_paise: Paise
    bank_ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_-]{4,40}$")]


class LimitsIn(Strict):
    max_balance_paise: Paise
    per_txn_paise: Paise
    per_day_paise: Paise


class ComplaintIn(Strict):
    kind: Literal["transaction", "service"]
    category: Literal[
        "not_credited",
        "double_debit",
        "wrong_amount",
        "receipt_missing",
        "refund_pending",
        "terminal_fault",
        "wallet",
        "conduct",
        "other",
    ]
    description: Note
    pay_id: Annotated[int, Field(gt=0, le=2**63 - 1)] | None = None
    agent_id: Annotated[str, Field(pattern=r"^AG[0-9]{6}$")] | None = None


class AssignIn(Strict):
    to: Username


class NoteIn(Strict):
    note: Note


class ReasonIn(Strict):
    reason: Note


class ResolveIn(Strict):
    resolution: Note
    refund_paise: Paise | None = None
    write_off: bool = Field(
        False,
        description="a refund of a posted pay is paid by the switch (funding -> wallet): "
        "say so; money the biller gives back goes through reconciliation (refund_agent)",
    )


class ResolveCaseIn(Strict):
    resolution: Literal["refund_agent", "force_post", "no_money"] = Field(
        description="refund_agent and force_post move money through the ledger"
    )
    note: Note


class CloseIn(Strict):
    """A business day to close (default: every due one), for one biller (default: all)."""

    biller_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    business_date: (
        Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2099, 12, 31))] | None
    ) = None
