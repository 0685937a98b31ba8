"""The garbage collector while an embedded AWS runs: about a tenth of `deckwatch demo` went to collections
(2.3-3.0 s of 19-23 s: 594 young, 54 middle and 4 full ones), and most of what the middle and full ones scanned lives
as long as the runtime does (moto's backends, botocore's models, the restored snapshot, every imported module).

`settled()` once the runtime has started: what exists then is frozen, never scanned again while it runs (the demo's
full collections: 1.3-1.4 s -> 0.3 s; the whole demo, paired runs: median 0.91x). `restored()` when it stops: the
frozen objects go back to the oldest generation, where the next full collection reclaims whatever the runtime left.
Process-wide, like moto's backends: one runtime at a time per process. (A larger young threshold as well was
measured too: fewer collections, more memory, no faster.) `paused()` while a snapshot is unpickled: every object it
makes is alive, and a process whose heap has grown (a demo's later scenarios, a test worker) would otherwise spend
most of the load in full collections.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


def settled() -> None:
    gc.freeze()


def restored() -> None:
    gc.unfreeze()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
