"""Pays: the record of each bill payment and the flow that drives it to posted or voided."""
