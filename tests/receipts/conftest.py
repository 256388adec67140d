from __future__ import annotations

from tests.web.conftest import admin, browser  # noqa: F401 (the fixtures)
