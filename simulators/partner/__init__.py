"""A partner (a bank or aggregator) calling the switch's partner API: a signing client,
and a load mode that pays many bills at once with retries of the same keys."""
