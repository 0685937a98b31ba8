"""Deckwatch's own figures (cutover durations, times to rollback, rollbacks by reason...) as CloudWatch Embedded
Metric Format, through Powertools Metrics: one EMF document per call, in the namespace POWERTOOLS_METRICS_NAMESPACE
(Deckwatch), with the dimension Environment plus the caller's. CloudWatch Logs extracts them from the function's
output; the same figures are in the ledger's records. POWERTOOLS_METRICS_DISABLED (the local runtime sets it)
keeps them off stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deckwatch.config import Settings

SECONDS = frozenset(
    {
        "CutoverDuration",
        "TimeToRollback",
        "TimeToMitigate",
        "DrillRto",
        "DrillRpo",
        "DrillRtoObjective",
        "DrillRpoObjective",
    }
)
USD = frozenset({"AnomalyImpact", "SavingsHourlyUsd", "SavingsUsd"})  # dollars: CloudWatch has no currency unit


def emit(settings: Settings, values: dict[str, float | None], **dimensions: str) -> dict[str, Any]:
    """Emit `values` (name -> value; a None value, a figure not known, is left out) with `dimensions`; returns the
    EMF document. Call it with the metric names written out: the dashboard is checked against them
    (tests/test_self_monitoring.py reads every call)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=settings.metrics_namespace)
    metrics.add_dimension(name="Environment", value=settings.environment)
    for dimension, label in sorted(dimensions.items()):
        metrics.add_dimension(name=dimension, value=label)
    for metric, value in values.items():
        if value is None:
            continue
        unit = MetricUnit.Seconds if metric in SECONDS else (MetricUnit.NoUnit if metric in USD else MetricUnit.Count)
        metrics.add_metric(name=metric, unit=unit, value=round(float(value), 3))
    doc: dict[str, Any] = dict(metrics.serialize_metric_set())
    metrics.clear_metrics()
    if not settings_disabled():
        # one serialization, printed as it is returned (flush_metrics would serialize again, with a new timestamp)
        sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")  # stdout is where EMF is read
    return doc


def settings_disabled() -> bool:
    """POWERTOOLS_METRICS_DISABLED, read as Powertools reads it (the local runtime sets it)."""
    from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

    return bool(resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_METRICS_DISABLED", "false")))
