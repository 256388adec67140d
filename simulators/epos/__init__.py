"""The e-POS terminal: one connection (``connection``) and a fleet of them (``fleet``)."""
