"""The three checks of a bill before anyone approves it, pure.

**SBV, sanity** (any failure: the bill is not checked further, its id starts "S"):

| check | fails when |
|---|---|
| ``meter_faulty`` | a reading is missing or negative, CMR < OMR, or the discom marked the meter |
| ``no_consumption`` | no units billed, or average, provisional or assessed billing |
| ``units_mismatch`` | units are not (CMR - OMR) x MF, the meter's multiplier (units + OMR = CMR) |
| ``continuity`` | OMR is not the previous bill's CMR (not checked on a site's first bill) |

**DBV, history** (every bill that passed SBV goes on to OBV either way):

| check | fails when |
|---|---|
| ``units_variation`` | units vary from the last (up to) 6 months' average by < -30 % or > +10 % |
| ``amount_variation`` | the same for the current amount |
| ``no_history`` | the site has no earlier bill to compare with |

Exactly -30 % and exactly +10 % pass ("within -30 to +10"). Variations are exact
fractions of integers, so no rounding decides an edge.

**OBV, tariff**: the tariff gross (switch/bulk/tariffs.py) against the discom's
current amount + meter rent + taxes; a variation within ±5 % passes (exactly 5 %
passes), beyond it fails (``tariff_variation``). Skipped, with its reason, when the
bill's category has no tariff or the bill lacks a dynamic parameter the tariff needs.

**The bill id's letter** says how far the checks went and how they ended:

| letter | the bill |
|---|---|
| S | failed SBV (nothing else was checked) |
| D | passed SBV; OBV was skipped (its last check was DBV) |
| U | went through OBV, and DBV or OBV failed |
| A | passed all three |

Any failed check opens a docket, with each failing check and its figures. A bill with
all three passed goes to DGM (F) for bulk approval; any other to the Site In-charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from switch.bulk.bills import Bill
from switch.bulk.tariffs import Site, Tariff, calculate, missing

HISTORY_MONTHS = 6
DBV_LOW = Fraction(-30, 100)
DBV_HIGH = Fraction(10, 100)
OBV_BAND = Fraction(5, 100)


@dataclass(frozen=True)
class Failure:
    check: str
    says: str  # the figures, for the docket


@dataclass(frozen=True)
class Outcome:
    sbv: tuple[Failure, ...]
    dbv: tuple[Failure, ...] | None  # None: not reached (SBV failed)
    obv: tuple[Failure, ...] | None  # None: not reached or skipped
    obv_skipped: str | None = None  # why OBV was skipped
    tariff_gross_paise: int | None = None  # the recomputed figure, where OBV ran

    @property
    def failures(self) -> tuple[Failure, ...]:
        return self.sbv + (self.dbv or ()) + (self.obv or ())

    @property
    def letter(self) -> str:
        if self.sbv:
            return "S"
        if self.obv is None:
            return "D"
        return "U" if self.failures else "A"

    @property
    def all_passed(self) -> bool:
        return self.letter == "A"

    @property
    def first_approver(self) -> str:
        return "dgm_f" if self.all_passed else "site_incharge"


def validate(bill: Bill, site: Site, tariff: Tariff | None) -> Outcome:
    sbv = tuple(sanity(bill))
    if sbv:
        return Outcome(sbv, None, None)
    dbv = tuple(history(bill))
    if tariff is None:
        return Outcome(sbv, dbv, None, "no tariff is configured for the bill's category")
    lacking = missing(tariff, bill)
    if lacking:
        return Outcome(sbv, dbv, None, f"the bill has no {', '.join(lacking)}")
    ours = calculate(tariff, site, bill).gross_paise
    return Outcome(sbv, dbv, tuple(tariff_check(ours, bill.tariff_gross_paise)), None, ours)


def sanity(bill: Bill) -> list[Failure]:
    out: list[Failure] = []
    omr, cmr = bill.omr, bill.cmr
    if omr is None or cmr is None or omr < 0 or cmr < 0:
        out.append(Failure("meter_faulty", f"readings OMR {omr}, CMR {cmr}"))
    elif cmr < omr:
        out.append(Failure("meter_faulty", f"CMR {cmr} is below OMR {omr}"))
    elif bill.meter_status.strip().lower() not in ("ok", "normal", ""):
        out.append(Failure("meter_faulty", f"the discom marked the meter {bill.meter_status!r}"))
    if bill.units <= 0:
        out.append(Failure("no_consumption", f"{bill.units} units billed"))
    elif bill.billing_type != "normal":
        out.append(Failure("no_consumption", f"{bill.billing_type} billing, not a reading"))
    if omr is not None and cmr is not None and bill.units != (cmr - omr) * bill.multiplying_factor:
        mf = f" x MF {bill.multiplying_factor}" if bill.multiplying_factor != 1 else ""
        out.append(Failure("units_mismatch", f"{bill.units} units, but CMR {cmr} - OMR {omr}{mf}"))
    previous = bill.history[0].cmr if bill.history else None
    if previous is not None and omr is not None and omr != previous:
        out.append(Failure("continuity", f"OMR {omr}, but last bill's CMR {previous}"))
    return out


def history(bill: Bill) -> list[Failure]:
    months = bill.history[:HISTORY_MONTHS]
    if not months:
        return [Failure("no_history", "no earlier bill to compare with")]
    out: list[Failure] = []
    checks = (
        ("units_variation", bill.units, [m.units for m in months], "units"),
        ("amount_variation", bill.current_paise, [m.current_paise for m in months], "paise"),
    )
    for check, present, past, unit in checks:
        if not within(present, sum(past), len(past), DBV_LOW, DBV_HIGH):
            v = variation(present, Fraction(sum(past), len(past)))
            shown = "no average" if v is None else f"{float(v) * 100:+.1f} %"
            avg = sum(past) / len(past)
            out.append(Failure(check, f"{present} {unit} against a {len(past)}-month "
                               f"average of {avg:.1f}: {shown}"))  # fmt: skip
    return out


def tariff_check(ours_paise: int, theirs_paise: int) -> list[Failure]:
    if within(ours_paise, theirs_paise, 1, -OBV_BAND, OBV_BAND):
        return []
    v = variation(ours_paise, Fraction(theirs_paise))
    shown = "nothing to compare" if v is None else f"{float(v) * 100:+.2f} %"
    return [Failure("tariff_variation", f"tariff gives {ours_paise} paise, the discom "
                    f"{theirs_paise}: {shown}")]  # fmt: skip


def within(present: int, total: int, count: int, low: Fraction, high: Fraction) -> bool:
    """Whether ``present`` varies from the average ``total / count`` by no less than
    ``low`` and no more than ``high`` (both edges inside), in integers: the variation
    is (count x present - total) / total. An average of 0 is within only for 0."""
    if total == 0:
        return present == 0
    gap = count * present - total  # the variation's numerator over ``total``
    scaled_total = abs(total)
    return (
        gap * low.denominator >= low.numerator * scaled_total
        and gap * high.denominator <= high.numerator * scaled_total
    )


def variation(present: int, average: Fraction) -> Fraction | None:
    """(present - average) / average, for the docket's figures; None where the
    average is 0 and present is not (infinitely more); 0 where both are 0."""
    if average == 0:
        return Fraction(0) if present == 0 else None
    return (present - average) / average
