"""The cyclic garbage collector's policy for the switch's long-running processes and
its bulk jobs."""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int, freeze: bool) -> None:
    """Make the cyclic collector cheap for a long-running server. Nearly everything a
    pay allocates is freed by reference counting; the collector only looks for cycles,
    and each young collection walks every young object. With the default threshold
    (700 allocations) it ran thousands of times a second and took about a fifth of the
    switch's CPU (a sampling profile). After start-up, ``gc.freeze`` moves what exists
    (modules, config, pools) out of every later collection's way."""
    if freeze:
        gc.collect()
        gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
