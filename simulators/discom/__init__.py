"""An electricity distribution company (discom) like UPPCL: see simulator.py."""
