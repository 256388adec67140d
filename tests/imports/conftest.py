"""The imports' API tests run on the admin API of a running switch."""

from tests.admin.conftest import admin  # noqa: F401  (the fixture, shared)
