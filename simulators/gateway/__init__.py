"""A payment gateway with UPI collect (payment links): see simulator.py."""
