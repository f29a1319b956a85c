"""Garbage collection tuned for a service process: long-lived start-up state, many short-lived objects."""

from __future__ import annotations

import gc

#: allocations between two young-generation collections (CPython's default: 700)
GC_YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Fewer collections for a process that makes and drops tens of thousands of small objects a batch.

    What start-up built (modules, models, the pool) lives as long as the process: ``gc.freeze`` takes it
    out of every later collection. At CPython's default threshold a batch sets off collections by the
    hundred, and the old generation's are scans of everything alive (the effect on latency is in
    ``docs/scaling.md``)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
