"""Remediation state machine task: begin (incident, guardrails, plan), act, watch, escalate or close."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.context import Services
from deckwatch.logging import observe
from deckwatch.remediation.tasks import RemediationTask, handle

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation


@logger.inject_lambda_context(clear_state=True)
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(RemediationTask.model_validate({"task": event}).task, services())
