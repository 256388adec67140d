"""The settlement benchmark still measures what it says: on a small day its own
checks hold (payables back to zero, every skewed line found, invariants), so the
figures it prints at full size come from a settlement that worked."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests.settlement_bench import bench


async def test_a_small_day_settles_reconciles_and_reports(
    database_url: str, tmp_path: Path
) -> None:
    args = argparse.Namespace(pays=300, agents=12, breaks=4, seed=3)
    result = await bench(database_url, args, tmp_path)
    assert result["ok"], result["violations"]
    assert sum(w["pays"] for w in result["windows"]) == 300
    assert result["matched"] == 296 and result["breaks_found"] == 4
    assert result["mis_agents"] == 12 and result["statement_payments"] == 25
    for w in result["windows"]:
        assert w["gross_paise"] == w["commission_paise"] + w["fee_paise"] + w["net_paise"]
        assert w["file_bytes"] > 100 * w["pays"] // 2
