"""The bill checks (SBV, DBV, OBV), the tariff calculation and the pay priority, as
pure functions: each rule and each threshold at its edge."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switch.bulk import priority, tariffs, validation
from switch.bulk.bills import Bill, Month, tds_paise

TARIFFS = tariffs.load()
LMV2 = TARIFFS[("UPPCL", "LMV-2")]
SHOP = tariffs.Site(sanctioned_load_kw=Decimal(5))


def bill(**changes: object) -> Bill:
    """A bill that passes every check against LMV-2 (5 kW, 30 days, 1,200 units)."""
    base = Bill(
        site_id="S1",
        bill_no="B1",
        bill_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 20),
        units=1200,
        omr=10_000,
        cmr=11_200,
        current_paise=1_239_475,  # energy 988,000 + fixed 165,000 + duty 86,475
        meter_rent_paise=2500,
        billing_days=30,
        history=tuple(Month(1200, 1_239_475, 10_000 - 1200 * i) for i in range(6)),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def checks(outcome: validation.Outcome) -> set[str]:
    return {f.check for f in outcome.failures}


def test_a_good_bill_passes_all_three_and_goes_to_dgm_f() -> None:
    out = validation.validate(bill(), SHOP, LMV2)
    assert out.letter == "A" and out.failures == () and out.first_approver == "dgm_f"
    assert out.tariff_gross_paise == 1_241_975


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"cmr": 9_000}, {"meter_faulty", "units_mismatch"}),  # the meter ran backwards
        ({"omr": None}, {"meter_faulty"}),
        ({"meter_status": "Faulty"}, {"meter_faulty"}),
        ({"units": 0, "cmr": 10_000}, {"no_consumption"}),
        ({"billing_type": "average"}, {"no_consumption"}),
        ({"units": 1199}, {"units_mismatch"}),
        ({"omr": 10_001, "cmr": 11_201}, {"continuity"}),
    ],
)
def test_each_sanity_check_stops_the_bill_at_s(changes: dict, failed: set[str]) -> None:
    out = validation.validate(bill(**changes), SHOP, LMV2)
    assert out.letter == "S" and checks(out) == failed
    assert out.dbv is None and out.obv is None  # nothing else was checked
    assert out.first_approver == "site_incharge"


def test_a_multiplying_factor_scales_the_units() -> None:
    ct = bill(omr=1000, cmr=1040, multiplying_factor=30, history=())
    assert "units_mismatch" not in checks(validation.validate(ct, SHOP, LMV2))


def test_a_first_bill_is_not_checked_for_continuity_but_has_no_history() -> None:
    out = validation.validate(bill(history=()), SHOP, LMV2)
    assert checks(out) == {"no_history"} and out.letter == "U"


@settings(max_examples=200, deadline=None)
@given(average=st.integers(1, 10**6).map(lambda n: n * 10), field=st.sampled_from(["u", "a"]))
def test_history_edges_minus_30_and_plus_10_pass_one_beyond_fails(average: int, field: str) -> None:
    """Six months averaging ``average``; this month exactly at -30 % and +10 % passes,
    one unit (or paisa) beyond either fails."""

    def months_of(value: int) -> tuple[Month, ...]:
        other = 1000
        return tuple(
            Month(value if field == "u" else other, value if field == "a" else other)
            for _ in range(6)
        )

    def failed(present: int) -> bool:
        b = bill(history=months_of(average))
        b = dataclasses.replace(
            b,
            units=present if field == "u" else 1000,
            current_paise=present if field == "a" else 1000,
        )
        name = "units_variation" if field == "u" else "amount_variation"
        return name in {f.check for f in validation.history(b)}

    low, high = average * 7 // 10, average * 11 // 10
    assert not failed(low) and not failed(high) and not failed(average)
    assert failed(low - 1) and failed(high + 1)


def test_the_history_average_is_of_the_last_six_months_only() -> None:
    old_peak = (Month(100_000, 100_000_000),)  # a seventh month, ignored
    months = tuple(Month(1200, 1_239_475) for _ in range(6)) + old_peak
    assert validation.history(bill(history=months)) == []


@settings(max_examples=200, deadline=None)
@given(theirs=st.integers(1, 10**9).map(lambda n: n * 20))
def test_tariff_edges_plus_minus_5_pass_one_paisa_beyond_fails(theirs: int) -> None:
    up, down = theirs * 105 // 100, theirs * 95 // 100
    assert validation.tariff_check(up, theirs) == []
    assert validation.tariff_check(down, theirs) == []
    assert validation.tariff_check(up + 1, theirs) != []
    assert validation.tariff_check(down - 1, theirs) != []


def test_a_tariff_gross_six_percent_high_fails_obv_and_goes_to_the_site_incharge() -> None:
    out = validation.validate(bill(current_paise=1_239_475 * 94 // 100), SHOP, LMV2)
    assert "tariff_variation" in checks(out) and out.letter == "U"
    assert out.first_approver == "site_incharge"


def test_obv_is_skipped_without_a_tariff_or_a_dynamic_parameter() -> None:
    none = validation.validate(bill(), SHOP, None)
    assert none.letter == "D" and "no tariff" in (none.obv_skipped or "")
    no_days = validation.validate(bill(billing_days=None), SHOP, LMV2)
    assert no_days.letter == "D" and "billing_days" in (no_days.obv_skipped or "")
    assert no_days.first_approver == "site_incharge"  # not all three passed


def test_slabs_scale_with_the_billing_days() -> None:
    """60 days: the first slab holds 600 units, the second up to 2,000."""
    c = tariffs.calculate(LMV2, SHOP, bill(units=2400, billing_days=60))
    assert c.energy_paise == 600 * 750 + 1400 * 840 + 400 * 875
    assert c.fixed_paise == 2 * 165_000 and c.meter_rent_paise == 5000


def test_a_demand_tariff_bills_at_least_its_floor_of_the_contract_demand() -> None:
    hv = TARIFFS[("UPPCL", "HV-1")]
    site = tariffs.Site(contract_demand_kva=Decimal(200))
    low = bill(dynamic={"recorded_demand_kva": Decimal(100)})
    high = bill(dynamic={"recorded_demand_kva": Decimal(180)})
    assert tariffs.calculate(hv, site, low).fixed_paise == 150 * 43000  # 75 % of 200
    assert tariffs.calculate(hv, site, high).fixed_paise == 180 * 43000
    assert tariffs.missing(hv, bill()) == ["recorded_demand_kva"]


def test_a_fuel_adjustment_comes_from_the_bill() -> None:
    lt = TARIFFS[("MSEDCL", "LT-II(A)")]
    b = bill(units=500, dynamic={"fuel_paise_per_unit": Decimal("35.5")})
    c = tariffs.calculate(lt, tariffs.Site(sanctioned_load_kw=Decimal(10)), b)
    assert c.energy_paise == 200 * 790 + 300 * 1127 and c.fuel_paise == 17750
    assert c.fixed_paise == 470_000
    assert c.duty_paise == 206_609  # 21 % of 983,850 is 206,608.5: half up


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("energy_slabs = [{ up_to_units = 300, paise_per_unit = 750 }]", "last one"),
        ("energy_slabs = [{ paise_per_unit = 7.5 }]", "quoted decimal"),
        ('energy_slabs = [{ paise_per_unit = 750 }]\nneeds = ["moon_phase"]', "moon_phase"),
        (
            "energy_slabs = [{ up_to_units = 300, paise_per_unit = 1 },"
            " { up_to_units = 200, paise_per_unit = 1 }, { paise_per_unit = 1 }]",
            "must rise",
        ),
    ],
)
def test_a_broken_tariff_file_is_refused_with_the_entry_named(
    tmp_path: Path, entry: str, says: str
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f'[[tariff]]\nbiller = "X"\ncategory = "C"\nname = "n"\n{entry}\n')
    with pytest.raises(tariffs.TariffError, match=says) as caught:
        tariffs.load([path])
    assert "t.toml tariff 1" in str(caught.value)


def test_tds_is_a_rate_of_the_gross_rounded_half_up() -> None:
    assert tds_paise(1_000_050, Decimal("2")) == 20_001
    assert tds_paise(1_000_050, Decimal("0")) == 0


CANDIDATES = st.lists(
    st.builds(
        priority.Candidate,
        bill_id=st.integers(1, 10**6),
        category=st.sampled_from(priority.CATEGORIES),
        due_date=st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        amount_paise=st.integers(1, 10**7),
    ),
    max_size=40,
    unique_by=lambda c: c.bill_id,
)


@settings(max_examples=300, deadline=None)
@given(bills=CANDIDATES, funds=st.integers(0, 10**8))
def test_a_priority_plan_never_overspends_and_defers_only_what_could_not_fit(
    bills: list[priority.Candidate], funds: int
) -> None:
    p = priority.plan(bills, funds)
    assert 0 <= p.total_paise <= funds
    assert {c.bill_id for c in p.paid} | {c.bill_id for c, _ in p.deferred} == {
        c.bill_id for c in bills
    }
    assert all(c.amount_paise > p.left_paise for c, _ in p.deferred)  # none would fit
    ordered = sorted(bills, key=lambda c: c.order)
    assert list(p.paid) == [c for c in ordered if c in p.paid]  # paid in priority order
    first_deferred = next((c for c in ordered if c not in p.paid), None)
    if first_deferred is not None:  # everything before it in the order was paid
        assert all(c in p.paid for c in ordered[: ordered.index(first_deferred)])
    assert priority.plan(list(reversed(bills)), funds) == p  # the input order is irrelevant


def test_gold_before_silver_then_due_date_then_amount() -> None:
    d = dt.date(2026, 12, 1)
    gold_late = priority.Candidate(1, "gold", d + dt.timedelta(days=9), 500)
    gold_soon = priority.Candidate(2, "gold", d, 700)
    silver = priority.Candidate(3, "silver", d, 100)
    z = priority.Candidate(4, "z", d, 50)
    p = priority.plan([z, silver, gold_late, gold_soon], 1250)
    assert [c.bill_id for c in p.paid] == [2, 1, 4]  # 3 did not fit after the golds
    assert [c.bill_id for c, _ in p.deferred] == [3]
    assert "needs 100 paise; 50 left" in p.deferred[0][1]
    assert priority.plan([z, silver], 49).paid == ()  # less than the cheapest bill
