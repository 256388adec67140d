"""The biller catalogue: who can be paid, and what each biller asks of a consumer."""
