"""The consumer pages on the payment-links world (its simulators, admin and phone)."""

from tests.links.conftest import gateway_changes, links  # noqa: F401  (the fixtures, shared)
