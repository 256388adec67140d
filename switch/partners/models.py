"""The partner API's request bodies, checked field by field with the terminal
protocol's own limits (one rule for an account or a parameter, whichever channel)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from switch.admin.field_errors import field_errors
from switch.partners.errors import PartnerApiError
from switch.protocols.terminal import messages as m

BillerId = Annotated[str, Field(pattern=f"^{m.ID_RE.pattern}$", description="a catalogue id")]
Account = Annotated[
    str, Field(pattern=f"^{m.ACCOUNT_RE.pattern}$", description="the first customer parameter")
]
IDEMPOTENCY_HEADER = "idempotency-key"
Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class FetchIn(Strict):
    biller: BillerId
    account: Account
    params: dict[str, str] = Field(
        default_factory=dict,
        description="the biller's other customer parameters by name (its catalogue entry)",
    )

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, str]) -> dict[str, str]:
        return checked_params(v)


class PayIn(FetchIn):
    amount_paise: Annotated[int, Field(ge=1, le=m.MAX_AMOUNT_PAISE, strict=True)]
    bill_ref: Annotated[str, Field(pattern=f"^{m.BILL_REF_RE.pattern}$")] | None = Field(
        None, description="from the fetch's answer: the bill being paid"
    )
    mobile: Annotated[str, Field(pattern=f"^{m.MOBILE_RE.pattern}$")] | None = Field(
        None, description="the payer's, for the SMS receipt"
    )
    language: Literal["en", "hi"] | None = Field(
        None, description="the SMS's language (else the payer's own choice, else English)"
    )


class ComplaintIn(Strict):
    ref: Annotated[str, Field(pattern=f"^{m.ID_RE.pattern}$")] = Field(
        description="the idempotency key of the pay complained about"
    )
    category: Literal[
        "not_credited", "double_debit", "wrong_amount", "receipt_missing", "refund_pending", "other"
    ]
    description: Annotated[str, Field(min_length=1, max_length=2000)]


def checked_params(v: dict[str, str]) -> dict[str, str]:
    if len(v) > m.MAX_PARAMS:
        raise ValueError(f"at most {m.MAX_PARAMS} parameters")
    for name, value in v.items():
        if not m.PARAM_NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r}: names are a-z 0-9 _ (1-32, a letter first)")
        if not m.PARAM_VALUE_RE.fullmatch(value):
            raise ValueError(f"{name}: printable text of 1-64 characters")
    return v


def parsed(model: type[Model], body: bytes) -> Model:
    """The body as ``model``, or ``invalid_request`` naming each field at fault."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        fields = field_errors(exc.errors())
        raise PartnerApiError("invalid_request", f"{len(fields)} field(s) invalid", fields) from exc


def body_spec(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody for a route that reads its body itself (the signature is
    checked over the exact bytes before the body is parsed)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
