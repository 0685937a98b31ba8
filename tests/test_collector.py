"""The garbage collector while an embedded AWS runs (deckwatch.local.collector): what the runtime started with is
frozen while it runs, and given back to the collector when it stops (nothing stays frozen after a test or a demo)."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

from deckwatch.local.runtime import LocalAWS


def test_a_running_runtime_freezes_what_it_started_with_and_unfreezes_on_stop(
    local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]],
) -> None:
    import gc

    assert gc.get_freeze_count() == 0
    with local_aws_factory("staging") as rt:
        assert gc.get_freeze_count() > 0
        report = rt.replay(json.loads((rt.root / "events/alarm_events/alarm-metric.json").read_text()))
        assert report.invocations and not report.dead_letters
    assert gc.get_freeze_count() == 0


def test_paused_gives_the_collector_back_as_it_was() -> None:
    import gc

    from deckwatch.local import collector

    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
