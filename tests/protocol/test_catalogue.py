"""The biller catalogue: a terminal asks which billers it can pay and what to ask the
consumer for each; it gets every configured biller with its customer parameters and
amount rule, and nothing to download when the version it holds is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.epos.connection import connect
from switch.catalogue import entries
from switch.config import BillerConfig, Config, ConfigError, ParamConfig, load
from switch.protocols.terminal.answers import check_answer
from switch.provisioning.credentials import Credentials
from switch.server import RunningSwitch

TWO_PARAMS = """
[[billers]]
id = "DJB"
name = "Delhi Jal Board"
kind = "water"
connector = "stub"
fetch_required = true
amount_rule = "exact"

[[billers.params]]
name = "connection_id"
label_en = "Connection ID"
label_hi = "कनेक्शन आईडी"
regex = "[0-9]{10}"

[[billers.params]]
name = "mobile"
label_en = "Registered mobile"
label_hi = "पंजीकृत मोबाइल"
regex = "[6-9][0-9]{9}"
required = false
"""


async def test_a_terminal_gets_every_biller_then_nothing_while_current(
    switch: RunningSwitch, terminals: list[Credentials], switch_config: Config
) -> None:
    async with connect(terminals[0]) as conn:
        first = await conn.request("catalogue")
        again = await conn.request("catalogue", version=first["version"])
        stale = await conn.request("catalogue", version="0" * 16)
        bad = await conn.request("catalogue", version="not-a-version")
    assert first["type"] == "catalogue"
    billers = {b["id"]: b for b in first["billers"]}
    assert set(billers) == {b.id for b in switch_config.billers}
    uppcl = billers["UPPCL"]
    assert uppcl["category"] == "electricity" and uppcl["params"][0]["name"] == "account"
    assert uppcl["params"][0]["label_hi"] == "खाता संख्या"
    assert uppcl["amount"] == {"rule": "partial", "min_paise": 100, "advance_cap_paise": 0}
    assert again["version"] == first["version"] and "billers" not in again  # nothing to load
    assert stale["billers"] == first["billers"]  # an old version gets it all again
    assert bad["type"] == "error" and bad["code"] == "invalid_request"


def test_the_version_changes_exactly_when_an_entry_does() -> None:
    one = BillerConfig(id="A1", name="A", endpoint="http://x")
    same = BillerConfig(id="A1", name="A", endpoint="http://elsewhere", timeout_s=9)
    renamed = BillerConfig(id="A1", name="A Power", endpoint="http://x")
    version = entries.build([one]).version
    assert entries.build([same]).version == version  # how to reach it is not the catalogue
    assert entries.build([renamed]).version != version
    assert entries.build([one, renamed.__class__(id="B1", name="B")]).version != version


def test_a_biller_with_two_parameters_comes_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "switch.toml"
    f.write_text(TWO_PARAMS)
    [djb] = load(f, environ={}).billers
    assert [p.name for p in djb.params] == ["connection_id", "mobile"]
    assert djb.params[1] == ParamConfig(
        "mobile", "Registered mobile", "पंजीकृत मोबाइल", "[6-9][0-9]{9}", required=False
    )
    answer = {**entries.build([djb]).answer(None), "rid": 1}
    check_answer(answer)  # the protocol's own shape
    assert answer["billers"][0]["fetch_required"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('regex = "[0-9]{10}"', 'regex = "[0-9"'),
        ('amount_rule = "exact"', 'amount_rule = "whatever"'),
        ('amount_rule = "exact"', 'amount_rule = "advance"'),
        ('name = "connection_id"', 'name = "Connection ID"'),
    ],
)
def test_a_bad_catalogue_entry_is_named(tmp_path: Path, change: str, message: str) -> None:
    f = tmp_path / "switch.toml"
    f.write_text(TWO_PARAMS.replace(change, message, 1))
    with pytest.raises(ConfigError, match=r"DJB|params"):
        load(f, environ={})
