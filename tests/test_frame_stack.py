"""deckwatch.local.frame_stack: a call above one large frame behaves as the call itself, and stops CPython from
mapping a frame-stack chunk per call where a loop's calls cross a chunk's end (counted as page faults, per thread)."""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable

import pytest
from deckwatch.local import frame_stack


def _down(depth: int) -> int:
    return _down(depth - 1) + 1 if depth else 0


def _loop() -> int:
    """Calls 300 frames deep, again and again: past the end of a 16 KiB chunk each time."""
    return sum(_down(300) for _ in range(2000))


def _faults_in_a_thread(body: Callable[[], int]) -> tuple[int, int]:
    out: list[int] = []

    def measure() -> None:
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        result = body()
        out.extend([result, resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before])

    thread = threading.Thread(target=measure)
    thread.start()
    thread.join()
    return out[0], out[1]


def test_a_call_above_the_large_frame_maps_no_chunk_per_call() -> None:
    plain_result, plain_faults = _faults_in_a_thread(_loop)
    deep_result, deep_faults = _faults_in_a_thread(lambda: frame_stack.run(_loop))
    assert plain_result == deep_result == 300 * 2000
    assert plain_faults >= 2000  # CPython maps (and faults in) a fresh chunk per call: what the module is for
    assert deep_faults < plain_faults // 20, (plain_faults, deep_faults)


def test_the_call_is_the_call_itself() -> None:
    assert frame_stack.run(lambda: "value") == "value"
    assert frame_stack.run.__code__.co_stacksize == frame_stack.SLOTS

    def fails() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom") as info:
        frame_stack.run(fails)
    assert [entry.name for entry in info.traceback][-2:] == ["run", "fails"]
    assert frame_stack.run(lambda: _down(900)) == 900  # calls deep above it
