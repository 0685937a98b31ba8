"""Per-hop latencies in AWS, as named constants (seconds, p50 and p99), each with where the figure comes from and
when it was written down. The reaction estimates (reactions.py) add these up along a traced critical path.

Honesty about the figures: no AWS account or internet here, so nothing is measured in AWS. A figure AWS has
published says so; the others are assumptions of the usual order of magnitude, marked "assumed", to be replaced
by measured ones (X-Ray traces of the deployed stack have every hop) when there is an account to measure in.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2026-12-02"


@dataclass(frozen=True)
class Hop:
    p50: float
    p99: float
    source: str


# EventBridge, event put -> rule target invoked. AWS published (2023-11, "Amazon EventBridge improves end-to-end
# latency") a p99 of about 362 ms after its latency work; the p50 is assumed.
EVENTBRIDGE_DELIVERY = Hop(0.15, 0.362, "AWS What's New 2023-11 (EventBridge end-to-end latency, p99); p50 assumed")
# Lambda asynchronous invocation (EventBridge -> Lambda goes through Lambda's internal queue): assumed.
LAMBDA_ASYNC_QUEUE = Hop(0.03, 0.2, "assumed (Lambda async invocation queue; not published as a latency)")
# Lambda invoke overhead on a warm sandbox (request routing to a running execution environment): assumed.
LAMBDA_WARM_INVOKE = Hop(0.01, 0.03, "assumed (Lambda warm invoke routing)")
# A cold sandbox: placement and runtime start before the handler's own init (measured by cold_start.py).
LAMBDA_COLD_SANDBOX = Hop(
    0.15, 0.4, "assumed (AWS Compute Blog 'Operating Lambda: performance', 2021: cold starts under 100 ms to over 1 s)"
)
# Step Functions Standard: one state transition (Pass/Choice/Task entry), and a Task's lambda:invoke round trip.
SFN_TRANSITION = Hop(0.02, 0.1, "assumed (Step Functions Standard publishes no per-transition latency)")
SFN_TASK_CALLBACK = Hop(0.05, 0.2, "assumed (SendTaskSuccess/Failure -> next state scheduled)")
# AWS API calls from Lambda in the same region (request + response).
API = {
    "dynamodb": Hop(0.006, 0.025, "DynamoDB product page: 'single-digit millisecond' (p50); p99 assumed"),
    "ssm": Hop(0.02, 0.08, "assumed (SSM GetParameter)"),
    "sfn": Hop(0.03, 0.12, "assumed (Step Functions API: StartExecution, SendTask*)"),
    "sns": Hop(0.02, 0.1, "assumed (SNS Publish, accepted; delivery to subscribers not included)"),
    "ecs": Hop(0.1, 0.4, "assumed (ECS control-plane API, e.g. UpdateService accepted)"),
    "elasticloadbalancingv2": Hop(0.1, 0.4, "assumed (ELBv2 ModifyListener accepted; ALB applies it within seconds)"),
    "backup": Hop(0.2, 0.8, "assumed (AWS Backup StartRestoreJob accepted)"),
    "cloudwatch": Hop(0.03, 0.12, "assumed (CloudWatch DescribeAlarms/GetMetricData)"),
}
API_DEFAULT = Hop(0.05, 0.2, "assumed (other AWS API call)")


def api(service: str) -> Hop:
    key = service.replace("-", "").lower()
    key = {"elbv2": "elasticloadbalancingv2", "stepfunctions": "sfn"}.get(key, key)
    return API.get(key, API_DEFAULT)


def constants() -> dict[str, dict[str, object]]:
    """Every constant with its source, for the JSON (the table names them)."""
    named = {
        "EVENTBRIDGE_DELIVERY": EVENTBRIDGE_DELIVERY,
        "LAMBDA_ASYNC_QUEUE": LAMBDA_ASYNC_QUEUE,
        "LAMBDA_WARM_INVOKE": LAMBDA_WARM_INVOKE,
        "LAMBDA_COLD_SANDBOX": LAMBDA_COLD_SANDBOX,
        "SFN_TRANSITION": SFN_TRANSITION,
        "SFN_TASK_CALLBACK": SFN_TASK_CALLBACK,
        **{f"API[{k}]": v for k, v in API.items()},
        "API_DEFAULT": API_DEFAULT,
    }
    return {k: {"p50_s": v.p50, "p99_s": v.p99, "source": v.source, "as_of": AS_OF} for k, v in named.items()}
