"""Templates: Jinja2 with autoescaping, money as rupees with Indian grouping, times
in IST, and the agent portal's words in English or Hindi from a gettext catalogue.

The catalogue (``locales/hi/LC_MESSAGES/messages.po``) is read with Babel when the
app starts and compiled in memory; the language of each request is a context
variable (each trio task has its own), so two requests in two languages never
see each other's.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import gettext
import io
from importlib import resources
from typing import Any

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, PackageLoader, select_autoescape

from switch.money import rupees
from switch.settlement.calendar import IST

LANGUAGES = {"en": "English", "hi": "हिन्दी"}
LANG_COOKIE = "switch_lang"  # the language a person chose on the pages (agent, consumer)
_language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="en")


def _catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    po = resources.files("switch.web") / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


TRANSLATIONS = {lang: _catalogue(lang) for lang in LANGUAGES}


def set_language(lang: str) -> None:
    _language.set(lang if lang in LANGUAGES else "en")


def current_language() -> str:
    return _language.get()


def _gettext(message: str) -> str:
    return TRANSLATIONS[_language.get()].gettext(message)


translate = _gettext  # for words a page's Python code shows


def _ngettext(singular: str, plural: str, n: int) -> str:
    return TRANSLATIONS[_language.get()].ngettext(singular, plural, n)


def ist(value: dt.datetime | str | None, seconds: bool = False) -> str:
    """A moment as people in India read it: IST, the month's name in the page's
    language (Babel's CLDR data); the API's ISO strings too."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    pattern = "d MMM y, HH:mm:ss" if seconds else "d MMM y, HH:mm"
    locale = f"{current_language()}_IN"
    return f"{format_datetime(value, pattern, tzinfo=IST, locale=locale)} IST"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("switch.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["rupees"] = rupees
    env.filters["ist"] = ist
    env.globals["languages"] = LANGUAGES
    return env


ENV = _environment()


def render(name: str, **context: Any) -> str:
    context.setdefault("lang", current_language())
    return ENV.get_template(name).render(**context)
