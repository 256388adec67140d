"""Pieces the simulators share: a small JSON-over-HTTP app, durable logs."""
