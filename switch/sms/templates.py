"""Every text the switch sends by SMS, as a registered template in English and Hindi.

Rules (the DLT registry of Indian SMS rules, as the switch keeps them):

1. A text is sent only from a template registered in advance. Each language of a
   template is registered on its own, so each has its own template id.
2. Each message in the outbox records its template id and language beside its
   body: the gateway passes the id on to the operator, and a message whose text does
   not match its template is refused there.
3. The variable parts are the ``{fields}`` of the template, and nothing else. A
   secret (a one-time code, a first password) is the mark ``{secret}``, put in by the
   notifier only as it sends (the stored body never holds it).
4. The language is the consumer's own choice where the switch knows it, else the
   language of the terminal or request the message comes from, else English.

The template ids below are the project's own examples, in the registry's 19-digit
form. An operator registers its own texts and names their ids in a TOML file
(``[sms] templates_file``: ``pay_posted.hi = "1107..."``), loaded at start.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("en", "hi")
SECRET_MARK = "{secret}"


@dataclass(frozen=True)
class Template:
    key: str
    ids: Mapping[str, str]  # language -> registered template id
    texts: Mapping[str, str]  # language -> text with {fields}


@dataclass(frozen=True)
class Sms:
    """One message, ready for the outbox."""

    template_id: str
    language: str
    body: str


def _t(key: str, n: int, en: str, hi: str) -> Template:
    return Template(
        key,
        {"en": f"11071600000000{n:03d}01", "hi": f"11071600000000{n:03d}02"},
        {"en": en, "hi": hi},
    )


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        _t(
            "pay_posted",
            1,
            "{amount} received for {biller} a/c {account}. Txn {txn}, biller ref {biller_ref}, "
            "terminal ref {ref}. Thank you.{receipt}",
            "{biller} खाता {account} के लिए {amount} प्राप्त हुए। लेनदेन {txn}, बिलर संदर्भ "
            "{biller_ref}, टर्मिनल संदर्भ {ref}। धन्यवाद।{receipt}",
        ),
        _t(
            "pay_failed_cash",
            2,
            "Payment of {amount} for {biller} a/c {account} FAILED ({reason}). Txn {txn}. "
            "Please collect your cash back from the agent.",
            "{biller} खाता {account} के लिए {amount} का भुगतान विफल ({reason})। लेनदेन {txn}। "
            "कृपया एजेंट से अपनी नकद राशि वापस लें।",
        ),
        _t(
            "pay_failed_refund",
            3,
            "Payment of {amount} for {biller} a/c {account} FAILED ({reason}). Txn {txn}. "
            "The amount goes back to the account you paid from.",
            "{biller} खाता {account} के लिए {amount} का भुगतान विफल ({reason})। लेनदेन {txn}। "
            "राशि उसी खाते में लौटेगी जिससे आपने भुगतान किया।",
        ),
        _t(
            "pay_link",
            4,
            "Your {biller} bill for a/c {account}: {amount}, due {due}. Pay online: {link} "
            "(valid till {expires}).",
            "{biller} खाता {account} का बिल: {amount}, देय तिथि {due}। ऑनलाइन भुगतान करें: "
            "{link} ({expires} तक मान्य)।",
        ),
        _t(
            "consumer_otp",
            5,
            "Your bill switch code is {secret}. It expires in {minutes} minutes. Never share it.",
            "आपका बिल स्विच कोड {secret} है। यह {minutes} मिनट में समाप्त होगा। इसे किसी को न बताएँ।",
        ),
        _t(
            "staff_reset_code",
            6,
            "Bill switch: your password reset code is {secret}. It expires in {minutes} "
            "minutes. Never share it.",
            "बिल स्विच: आपका पासवर्ड रीसेट कोड {secret} है। यह {minutes} मिनट में समाप्त होगा। "
            "इसे किसी को न बताएँ।",
        ),
        _t(
            "agent_welcome",
            7,
            "Welcome to the bill switch, {name}. Portal login: {username} password: {secret} "
            "(change it at first login).",
            "बिल स्विच में आपका स्वागत है, {name}। पोर्टल लॉगिन: {username} पासवर्ड: {secret} "
            "(पहली बार लॉगिन पर इसे बदलें)।",
        ),
        _t(
            "link_refund",
            8,
            "{amount} you paid for {biller} a/c {account} (order {order}) could not be paid to "
            "the biller and is being refunded to your UPI account.",
            "{biller} खाता {account} के लिए आपके {amount} (ऑर्डर {order}) बिलर को नहीं भेजे जा "
            "सके; राशि आपके UPI खाते में लौटाई जा रही है।",
        ),
    )
}

_ids: dict[tuple[str, str], str] = {}  # (key, language) -> an operator's own id


def load_template_ids(path: str | Path) -> None:
    """Take an operator's registered ids (``key.language = "id"``) from a TOML file;
    an unknown key or language is an error at start, not a refused SMS later."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    found: dict[tuple[str, str], str] = {}
    for key, by_lang in raw.items():
        if key not in TEMPLATES or not isinstance(by_lang, dict):
            raise ValueError(f"{path}: {key!r} is not an SMS template ({', '.join(TEMPLATES)})")
        for lang, template_id in by_lang.items():
            if lang not in LANGUAGES or not str(template_id).isdigit():
                raise ValueError(f"{path}: {key}.{lang} must be a language of {LANGUAGES} = digits")
            found[(key, lang)] = str(template_id)
    _ids.clear()
    _ids.update(found)


def render(key: str, language: str | None, **fields: object) -> Sms:
    """The message from template ``key`` in ``language`` (English if the switch has
    no text in it). A field the template names must be given (KeyError otherwise)."""
    template = TEMPLATES[key]
    lang = language if language in LANGUAGES else "en"
    values = {k: str(v) for k, v in fields.items()}
    values.setdefault("secret", SECRET_MARK)
    body = template.texts[lang].format_map(values)
    return Sms(_ids.get((key, lang), template.ids[lang]), lang, body)
