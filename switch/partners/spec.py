"""Write the partner API's OpenAPI spec:

    python -m switch.partners.spec docs/partner-openapi.json

The committed copy is what a bank's developers read before they have a switch to ask
(a running switch serves the same at ``/partner/v1/openapi.json``); a test fails when
the two differ, so the file is regenerated with the code that changes it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def spec() -> dict[str, Any]:
    from switch.partners.api import create_partner_app

    app = create_partner_app(None)
    schema: dict[str, Any] = app.openapi()
    return schema


def text() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/partner-openapi.json")
    out.write_text(text())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
