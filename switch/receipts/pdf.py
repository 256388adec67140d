"""A posted pay's receipt as a PDF, every line in English and Hindi.

Drawn with fpdf2 in Lohit Devanagari (shipped in ``fonts/``, OFL: it has Latin, the
digits and the rupee sign too, so one font serves both languages), with text shaping
by HarfBuzz (uharfbuzz): Devanagari needs it, for conjuncts and for the vowel signs
that are drawn before the consonant they follow (the ि of शिकायत). A receipt
is a pure function of its pay: the same pay gives the same bytes (the PDF's creation
date is the pay's time), so a copy downloaded twice can be compared.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources

from fpdf import FPDF

from switch.money import rupees

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
FONT = "Lohit"
WIDTH_MM, HEIGHT_MM = 105.0, 170.0  # A6-wide: prints on a shop's small printer too


@dataclass(frozen=True)
class Receipt:
    """What a receipt says: every reference a consumer or a complaint may need."""

    txn_id: int
    biller_txn_id: str | None
    biller_id: str
    biller_name: str
    consumer_account: str
    amount_paise: int
    paid_at: dt.datetime
    channel: str  # terminal | partner
    source_id: str  # the terminal's id, or the partner's
    source_ref: str  # the terminal's reference, or the partner's Idempotency-Key
    paid_through: str  # the agent's shop, or the partner's name
    link: str | None = None  # where this receipt can be downloaded again


# (English, Hindi) for each line's label.
LABELS = {
    "title": ("Payment receipt", "भुगतान रसीद"),
    "biller": ("Biller", "बिलर"),
    "account": ("Consumer account", "उपभोक्ता खाता संख्या"),
    "amount": ("Amount paid", "भुगतान राशि"),
    "date": ("Paid on (IST)", "भुगतान तिथि (IST)"),
    "txn": ("Switch transaction id", "स्विच लेनदेन संख्या"),
    "biller_txn": ("Biller transaction id", "बिलर लेनदेन संख्या"),
    "terminal": ("Terminal / reference", "टर्मिनल / संदर्भ"),
    "partner": ("Partner / reference", "भागीदार / संदर्भ"),
    "through": ("Paid through", "भुगतान माध्यम"),
    "status": ("Status", "स्थिति"),
    "paid": ("Paid: credited to the biller", "सफल: बिलर को जमा"),
    "keep": (
        "Keep this receipt. Quote the switch transaction id in any complaint.",
        "यह रसीद संभाल कर रखें। किसी भी शिकायत में स्विच लेनदेन संख्या बताएं।",
    ),
}


def paid_at_text(t: dt.datetime) -> str:
    return t.astimezone(IST).strftime("%d-%m-%Y %H:%M:%S")


def lines(r: Receipt) -> list[tuple[str, str]]:
    """(label key, value) for each line, in the order printed."""
    source = "terminal" if r.channel == "terminal" else "partner"
    return [
        ("biller", f"{r.biller_name} ({r.biller_id})"),
        ("account", r.consumer_account),
        ("amount", rupees(r.amount_paise)),
        ("date", paid_at_text(r.paid_at)),
        ("txn", str(r.txn_id)),
        ("biller_txn", r.biller_txn_id or "-"),
        (source, f"{r.source_id} / {r.source_ref}"),
        ("through", r.paid_through),
        ("status", LABELS["paid"][0] + " / " + LABELS["paid"][1]),
    ]


def render(r: Receipt) -> bytes:
    pdf = FPDF(unit="mm", format=(WIDTH_MM, HEIGHT_MM))
    pdf.set_creation_date(r.paid_at)
    pdf.set_title(f"Receipt {r.txn_id}")
    pdf.set_author("bill-payment switch")
    font = resources.files("switch.receipts") / "fonts" / "Lohit-Devanagari.ttf"
    with resources.as_file(font) as path:
        pdf.add_font(FONT, fname=str(path))
    pdf.set_text_shaping(True)
    pdf.set_margins(8, 8, 8)
    pdf.set_auto_page_break(True, margin=8)
    pdf.add_page()
    width = WIDTH_MM - 16
    pdf.set_font(FONT, size=14)
    en, hi = LABELS["title"]
    pdf.multi_cell(width, 7, en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 7, hi, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for key, value in lines(r):
        en, hi = LABELS[key]
        pdf.set_font(FONT, size=7.5)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(width, 4, f"{en} / {hi}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=11 if key == "amount" else 9.5)
        pdf.set_text_color(0, 0, 0)
        pdf.multi_cell(width, 5.5, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.ln(2)
    pdf.set_font(FONT, size=7)
    for text in LABELS["keep"]:
        pdf.multi_cell(width, 3.8, text, new_x="LMARGIN", new_y="NEXT")
    if r.link:
        pdf.ln(1)
        pdf.multi_cell(width, 3.8, r.link, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
