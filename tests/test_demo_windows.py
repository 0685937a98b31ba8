"""`deckwatch demo` shows one waiting release: its release-windows scenario, run on its own (the whole demo runs in
tests/test_html_report.py)."""

from __future__ import annotations

import importlib

import pytest
from support.samples import REPO_ROOT


def test_the_demo_shows_a_release_waiting_from_friday_evening_to_monday_morning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = importlib.import_module("deckwatch.local.scenarios.5_windows")
    scenario.run(REPO_ROOT)
    out = capsys.readouterr().out
    assert "Fri 17:00 CET  waiting-for-window  planned:" in out
    assert "Mon 09:00 CET  planned" in out
    assert "completed" in out and "execution SUCCEEDED: Begin -> Route -> WaitForWindow -> Begin" in out
