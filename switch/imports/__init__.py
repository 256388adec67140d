"""Bulk imports and legacy migration: agents with their KYC, opening balances, bank
statement top-ups and payment history, from CSV or XLSX files read by a mapping
(``mapping.py``), checked whole and written in resumable chunks (``engine.py``), each
run with its protocol of transfer (``report.py``). ``entities.py`` says what each
kind of file holds."""
