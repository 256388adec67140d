"""The MIS chart: daily volume (posted pays) and value (₹) per biller, as a PNG.

Drawn with matplotlib's object API (a ``Figure`` of its own, no pyplot state), so
the admin API can draw charts in worker threads without them sharing a figure.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def chart_png(rows: Sequence[dict[str, Any]], start: dt.date, end: dt.date) -> bytes:
    """``rows``: day, biller, posted, amount_posted_paise (reports.daily_by_biller)."""
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    billers = sorted({r["biller"] for r in rows})
    fig = Figure(figsize=(10, 6.5))
    volume, value = fig.subplots(2, 1, sharex=True)
    for biller in billers:
        by_day = {r["day"]: r for r in rows if r["biller"] == biller}
        counts = [by_day.get(d.isoformat(), {}).get("posted", 0) for d in days]
        rupees = [by_day.get(d.isoformat(), {}).get("amount_posted_paise", 0) / 100 for d in days]
        volume.plot(days, counts, marker="o", label=biller)
        value.plot(days, rupees, marker="o", label=biller)
    volume.set_ylabel("posted pays")
    volume.set_title(f"Daily volume and value per biller, {start} to {end} (IST)")
    value.set_ylabel("value (₹)")
    for ax in (volume, value):
        ax.grid(alpha=0.3)
        if billers:
            ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()


def daily_chart(rows: Sequence[dict[str, Any]], start: dt.date, end: dt.date, out: Path) -> Path:
    """Draw the chart into the file ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(chart_png(rows, start, end))
    return out
