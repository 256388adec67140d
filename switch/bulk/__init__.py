"""Institutional bill payment: an organisation's many sites, their electricity bills
checked (sanity, history, tariff), approved in a chain, and paid by priority through
the switch's own pay flow (docs/bulk-payments.md)."""
