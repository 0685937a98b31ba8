"""Paths of the sample events under events/ (importable at collection time, for parametrisation)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"
FUNCTION_FOLDERS = ("pipeline_events", "alarm_events", "backup_events", "cost_events", "remediation_events", "drill")
FUNCTION_SAMPLES = sorted(p for folder in FUNCTION_FOLDERS for p in (EVENTS / folder).glob("*.json"))
INVALID = EVENTS / "invalid"
APPROVAL_INPUTS = EVENTS / "statemachines" / "approval"


def sample_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def camel(folder: str) -> str:
    """pipeline_events -> PipelineEvents (the function's logical id prefix in template.yaml)."""
    return "".join(part.capitalize() for part in folder.split("_"))


def load_event(path: Path, fresh_id: bool = True) -> dict[str, Any]:
    """A sample as a dict, with a fresh event id so that idempotency never links two tests."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    if fresh_id:
        doc["id"] = str(uuid.uuid4())
    return doc
