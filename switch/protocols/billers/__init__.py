"""Biller connectors: one per biller wire protocol, all behind ``Connector``."""
