"""``switch demo``: the whole system on one machine, watched live, then checked."""
