"""SMS texts: each a registered template, in English and Hindi.

Indian SMS rules (the DLT registry) let a sender send only texts registered in
advance, each under its own template id, so every message the switch queues names the
template it was made from and the language it is in. ``templates.py`` holds the texts
and ``render`` makes one message.
"""

from switch.sms.templates import LANGUAGES, TEMPLATES, Sms, Template, load_template_ids, render

__all__ = ["LANGUAGES", "TEMPLATES", "Sms", "Template", "load_template_ids", "render"]
