"""What the consumer's pages share: their portal (``/me``, no staff login), the
language of each page (``?lang=`` once, then a cookie; else the language the
consumer's SMS was in), and the consumer's signed-in session."""

from __future__ import annotations

from fastapi import Request

from switch.web.login import Portal
from switch.web.templating import LANG_COOKIE, LANGUAGES, set_language

CONSUMER_PORTAL = Portal("/me", "Consumer services", for_agents=False)


def page_language(request: Request, default: str = "en") -> str:
    """Set (and answer) the language this page is shown in."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or default
    lang = asked if asked in LANGUAGES else "en"
    set_language(lang)
    return lang
