"""A village water scheme like mGramSeva: see simulator.py."""
