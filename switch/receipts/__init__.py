"""Receipts of posted pays: a PDF in English and Hindi, and the short signed link an
SMS carries to it."""
