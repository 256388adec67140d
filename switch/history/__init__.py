"""History by month: partitions of pays, transfers and SMS, made ahead and archived.

``months`` (ids that say their month), ``partitions`` (made ahead, listed),
``archive`` (old months written to checksummed files and detached).
"""
