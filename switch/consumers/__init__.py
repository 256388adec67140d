"""Consumers' own access: sign-in by a one-time code (``access.py``) and what a
signed-in consumer may see of their account (``account.py``)."""
