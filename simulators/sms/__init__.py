"""An SMS gateway stand-in: see simulator.py."""
