"""Every word the pages show has its Hindi in the catalogue, money and dates read as
people in India read them, in either language."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from switch.web import templating

WEB = resources.files("switch.web")


def test_every_word_of_the_pages_has_its_hindi() -> None:
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(WEB),
            method_map=[("**/templates/**.html", "jinja2"), ("**/words.py", "python")],
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={**DEFAULT_KEYWORDS, "N_": None},
        )
    }
    with (WEB / "locales" / "hi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalogue = {m.id: m.string for m in read_po(f, locale="hi") if m.id}
    assert "Payments" in found and "posted" in found  # templates and data words both seen
    missing = sorted(m for m in found if not catalogue.get(m))
    assert missing == [], f"no Hindi for: {missing}"
    assert sorted(set(catalogue) - found) == [], "words the pages no longer use"


def test_dates_are_ist_in_the_pages_language() -> None:
    moment = dt.datetime(2026, 12, 1, 16, 39, 5, tzinfo=dt.UTC)
    templating.set_language("en")
    assert templating.ist(moment) == "1 Dec 2026, 22:09 IST"
    assert templating.ist(moment.isoformat(), seconds=True) == "1 Dec 2026, 22:09:05 IST"
    templating.set_language("hi")
    try:
        assert templating.ist(moment) == "1 दिस॰ 2026, 22:09 IST"
        assert templating.render("agent/nav.html").count("भुगतान") == 1
    finally:
        templating.set_language("en")
