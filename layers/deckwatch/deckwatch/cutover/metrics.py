"""Cutover metrics as CloudWatch Embedded Metric Format lines (namespace Deckwatch): cutover duration, time to
rollback, rollbacks by reason. Written by hand (a dozen lines) rather than through Powertools Metrics so that no
handler pays its import; the same values are in the ledger records (details), so they can also be derived there.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from deckwatch import clock

UNITS = {"CutoverDuration": "Seconds", "TimeToRollback": "Seconds"}


def document(
    environment: str, service: str, values: dict[str, float], extra: dict[str, str] | None = None
) -> dict[str, Any]:
    dims = {"Environment": environment, "Service": service, **(extra or {})}
    return {
        "_aws": {
            "Timestamp": int(clock.now_epoch() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Deckwatch"),
                    "Dimensions": [sorted(dims)],
                    "Metrics": [{"Name": k, "Unit": UNITS.get(k, "Count")} for k in values],
                }
            ],
        },
        **dims,
        **{k: round(float(v), 3) for k, v in values.items()},
    }


def emit(
    environment: str,
    service: str,
    values: dict[str, float],
    extra_dimensions: dict[str, str] | None = None,
    stream: IO[str] | None = None,
) -> dict[str, Any]:
    """Write one EMF line to stdout in Lambda (CloudWatch Logs extracts the metrics); elsewhere only return it."""
    doc = document(environment, service, values, extra_dimensions)
    out = stream or (sys.stdout if os.environ.get("AWS_EXECUTION_ENV") else None)
    if out is not None:
        out.write(json.dumps(doc) + "\n")
    return doc
