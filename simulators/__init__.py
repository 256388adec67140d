"""Stand-ins for the outside world: e-POS terminals, billers, the SMS gateway."""
