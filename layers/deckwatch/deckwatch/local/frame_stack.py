"""Threads of the embedded AWS run on one large frame, so that CPython stops mapping and unmapping their frame stacks.

CPython (3.11+) keeps a thread's Python frames in chunks of 16 KiB: when a call does not fit in the current chunk,
it maps a new one, and when that call returns, it unmaps it at once. A loop whose calls cross a chunk's end pays an
mmap, a page fault and a munmap per call. moto's call stacks are deep (botocore, the request stubber, werkzeug, the
backend, the ASL interpreter's recursion) and cross chunk ends all the time: one test module of 14 tests made
358,913 mmap and 358,529 munmap calls of 16 KiB, three quarters of them in the Step Functions execution threads,
and the whole suite spent 22% of its CPU time in the kernel.

`run(target)` calls `target` from a frame whose declared stack depth (`co_stacksize`) is 1 MiB of slots: the
interpreter gives that frame a chunk of its own of 2 MiB, and everything called above it lives in the free
megabyte behind it, one chunk that stays mapped until `run` returns (the same loop of calls: 0.54 s -> 0.12 s, no
mmap). The slots are only reserved: the pages that calls never reach are never touched. Deeper stacks than a
megabyte get the interpreter's ordinary chunks beyond it. Nothing else about the call changes (its result, its
exceptions, its frames in a traceback: one more, this one).
"""

from __future__ import annotations

from collections.abc import Callable

SLOTS = 1 << 17  # 131,072 slots of 8 bytes: 1 MiB of frame stack for what is called above


def run[T](target: Callable[[], T]) -> T:
    """`target()`, called above one large frame (see the module docstring)."""
    return target()


run.__code__ = run.__code__.replace(co_stacksize=SLOTS)
