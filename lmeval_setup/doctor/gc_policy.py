"""How often the cyclic garbage collector runs while the doctor reads a cluster.

The collection decodes thousands of JSON objects (every job, the pods of namespaces with failed jobs),
and the collector runs every 700 new containers: at 2,000 jobs ~200 young and two full collections, the
full ones traversing everything alive (the imports' objects too), ~25 ms of a ~0.3 s collection's CPU.
None of it finds anything: decoded JSON holds no reference cycles, and memory is released by reference
counting as pages are dropped (what keeps memory flat in the number of healthy jobs). So while reading,
the young generation is collected every GC_YOUNG_THRESHOLD_WHILE_READING allocations instead: still
bounded (a cycle made meanwhile is collected within that many allocations), but rare. mypy raises the
same threshold for the same reason.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GC_YOUNG_THRESHOLD_WHILE_READING = 50_000

_lock = threading.Lock()
_readers = 0  # collections under way: concurrent ones share one raised threshold
_saved: tuple[int, ...] = ()


@contextmanager
def rare_collections_while_reading() -> Iterator[None]:
    """The young generation's threshold raised for the block; the previous thresholds restored when the
    last concurrent block ends (another thread's collect() may be inside one at the same time)."""
    global _readers, _saved
    with _lock:
        if _readers == 0:
            _saved = gc.get_threshold()
            if 0 < _saved[0] < GC_YOUNG_THRESHOLD_WHILE_READING:  # 0: collection is off, and stays off
                gc.set_threshold(GC_YOUNG_THRESHOLD_WHILE_READING, *_saved[1:])
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                gc.set_threshold(*_saved)
