"""Agents, terminals, and the switch's own identity key: who may connect, and as whom."""
